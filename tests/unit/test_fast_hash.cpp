// File: test_fast_hash.cpp
// The XXH3 hashes of file sync: published test values, independence from how
// the input is split, the one-pass reader of both file digests, and the hex check.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "testutil.hpp"

using namespace starbus;

TEST_CASE("files: XXH3 gives the published values for the empty input") {
    // xxHash's own test suite: XXH3_64bits("") and XXH3_128bits("") with seed 0.
    CHECK(chunk_checksum("", 0) == 0x2D06800538D394C2ull);
    CHECK(xxh128_bytes("") == "99aa06d3014798d86001c324468d497f");
}

TEST_CASE("files: the XXH3-128 of a file does not depend on how it was split") {
    std::mt19937 rng(7);
    std::string data(1 << 20, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    const std::string whole = xxh128_bytes(data);
    CHECK(whole.size() == xxh128_hex_chars);
    CHECK(is_lower_hex(whole, xxh128_hex_chars));
    for (std::size_t piece : {1u, 7u, 4096u, 65536u, 262145u}) {
        xxh128_hasher h;
        for (std::size_t at = 0; at < data.size(); at += piece) h.update(std::string_view(data).substr(at, piece));
        CHECK(h.finish() == whole);
    }
    data[12345] ^= 1;
    CHECK(xxh128_bytes(data) != whole);
    CHECK(chunk_checksum(data.data(), data.size()) != 0);
}

TEST_CASE("files: one read of a file gives both digests") {
    starbus::test::temp_dir dir;
    const auto path = dir.path() / "f";
    std::string data(3 * content_hash_block_bytes + 17, 'q');
    std::ofstream(path, std::ios::binary) << data;
    auto both = digest_file(path);
    REQUIRE(both);
    CHECK(both->size == data.size());
    CHECK(both->sha256 == hash_bytes(data));
    CHECK(both->xxh128 == xxh128_bytes(data));
    auto fast = digest_file(path, false);
    REQUIRE(fast);
    CHECK(fast->sha256.empty());
    CHECK(fast->xxh128 == both->xxh128);
    std::string why;
    CHECK_FALSE(digest_file(dir.path() / "missing", true, &why));
    CHECK(why.find("cannot open") != std::string::npos);
    CHECK_FALSE(digest_file(dir.path(), true, &why));
}

TEST_CASE("files: hex digests are checked for length and case") {
    CHECK(is_lower_hex("0123456789abcdef", 16));
    CHECK_FALSE(is_lower_hex("0123456789ABCDEF", 16));
    CHECK_FALSE(is_lower_hex("0123456789abcde", 16));
    CHECK_FALSE(is_lower_hex("0123456789abcdeg", 16));
    CHECK_FALSE(is_lower_hex("", 1));
}
