// File: test_content_hash.cpp
// The content hash: SHA-256 known vectors (FIPS 180-4 examples), independence
// from how the content is split, hash_file() across block boundaries and on
// files it must refuse, and a [.bench] throughput comparison of candidates.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <starbus/files/content_hash.hpp>

#include "testutil.hpp"

#if __has_include(<xxhash.h>)
#define XXH_INLINE_ALL  // header-only: no library to link
#include <xxhash.h>
#define STARBUS_BENCH_XXH3 1
#endif
#if defined(STARBUS_BENCH_SODIUM)  // set with -lsodium in a measurement build only
#include <sodium.h>
#endif

using namespace starbus;

namespace {

// The hash tests need the implementation the design note asks the build to link.
bool skip_without_hash() {
    if (content_hash_available()) return false;
    WARN("built without STARBUS_HAVE_OPENSSL_CRYPTO: content hash tests skipped");
    CHECK_THROWS_AS(content_hasher(), std::runtime_error);
    return true;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xFF);
    return s;
}

void write_file(const std::filesystem::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary) << content;
}

}  // namespace

TEST_CASE("files: content hash is SHA-256 and matches the FIPS 180-4 vectors") {
    if (skip_without_hash()) return;
    CHECK(content_hash_algorithm == "sha256");
    CHECK(hash_bytes("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hash_bytes("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hash_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(hash_bytes(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    CHECK(hash_bytes("abc").size() == content_hash_hex_chars);
}

TEST_CASE("files: content hasher result does not depend on how the content is split") {
    if (skip_without_hash()) return;
    const std::string data = pattern(100000);
    const std::string whole = hash_bytes(data);
    for (std::size_t piece : {1u, 7u, 64u, 1000u, 65536u}) {
        content_hasher h;
        for (std::size_t at = 0; at < data.size(); at += piece) h.update(std::string_view(data).substr(at, piece));
        CHECK(h.finish() == whole);
    }
    // finish() starts again from empty content; a moved-to hasher keeps its state.
    content_hasher h;
    h.update("ab");
    content_hasher moved = std::move(h);
    moved.update("c");
    CHECK(moved.finish() == hash_bytes("abc"));
    CHECK(moved.finish() == hash_bytes(""));
}

TEST_CASE("files: hash_file streams across block boundaries and reports the size") {
    if (skip_without_hash()) return;
    test::temp_dir dir;
    const std::size_t b = content_hash_block_bytes;
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, b - 1, b, b + 1, 3 * b + 17}) {
        INFO("size " << size);
        const std::string data = pattern(size);
        const auto path = dir.path() / (std::to_string(size) + ".bin");
        write_file(path, data);
        std::string why;
        const auto got = hash_file(path, &why);
        REQUIRE(got);
        CHECK(got->hash == hash_bytes(data));
        CHECK(got->size == size);
    }
}

TEST_CASE("files: hash_file refuses what is not a readable regular file") {
    if (skip_without_hash()) return;
    test::temp_dir dir;
    std::string why;
    CHECK_FALSE(hash_file(dir.path() / "missing", &why));
    CHECK(why.find("cannot open") != std::string::npos);
    CHECK_FALSE(hash_file(dir.path(), &why));  // a directory
    REQUIRE(::mkfifo((dir.path() / "fifo").c_str(), 0600) == 0);
    CHECK_FALSE(hash_file(dir.path() / "fifo", &why));  // must not block waiting for a writer
    CHECK(why.find("not a regular file") != std::string::npos);
}

// Run with: unit_tests "[.bench]" -s. Figures go in docs/protocol.md "Hashes".
TEST_CASE("files: throughput of candidate content hashes on a 64 MiB buffer", "[.bench]") {
    const std::size_t size = 64u << 20;
    const std::size_t block = content_hash_block_bytes;  // hashed as hash_file() would
    const std::string data = pattern(size);
    const auto measure = [&](const char* name, const std::function<void()>& run) {
        run();  // warm up
        double best = 1e9;
        for (int i = 0; i < 5; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            run();
            best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::printf("%-34s %8.0f MiB/s\n", name, 64.0 / best);
    };
    std::string sink;
    if (content_hash_available()) {
        measure("sha256 (content_hasher, libcrypto)", [&] {
            content_hasher h;
            for (std::size_t at = 0; at < size; at += block) h.update(data.data() + at, block);
            sink = h.finish();
        });
    }
#if defined(STARBUS_BENCH_XXH3)
    measure("xxh3-128 (xxhash, not crypto)", [&] {
        XXH3_state_t state;
        XXH3_128bits_reset(&state);
        for (std::size_t at = 0; at < size; at += block) XXH3_128bits_update(&state, data.data() + at, block);
        sink = std::to_string(XXH3_128bits_digest(&state).low64);
    });
#endif
#if defined(STARBUS_BENCH_SODIUM)
    REQUIRE(sodium_init() >= 0);
    measure("blake2b-256 (libsodium)", [&] {
        crypto_generichash_state state;
        unsigned char out[32];
        crypto_generichash_init(&state, nullptr, 0, sizeof out);
        for (std::size_t at = 0; at < size; at += block)
            crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(data.data() + at), block);
        crypto_generichash_final(&state, out, sizeof out);
        sink.assign(reinterpret_cast<const char*>(out), sizeof out);
    });
#endif
    CHECK_FALSE(sink.empty());
}
