// File: test_file_manifest.cpp
// The file manifest: sorted entries, add/replace/remove, the wire form, and the
// diff a mirror runs after each server change (by content, never by position);
// the largest metadata a broker writes reads back.
#include <catch2/catch.hpp>

#include <chrono>

#include <starbus/files/file_manifest.hpp>

#include "largest_values.hpp"

using namespace starbus;

namespace {

file_entry entry(std::string path, std::uint64_t size, std::string hash, std::uint64_t epoch = 1,
                 std::uint64_t seq = 1) {
    return file_entry{std::move(path), size, std::move(hash), epoch, seq, {}};
}

// A manifest of n files "dir/NNNNN" with distinct hashes.
file_manifest many(std::size_t n) {
    file_manifest m;
    for (std::size_t i = 0; i < n; ++i) {
        char path[32];
        std::snprintf(path, sizeof path, "dir%02zu/%05zu", i % 100, i);
        m.put(entry(path, 4096, std::string(56, 'a') + std::to_string(10000000 + i), 1, i + 1));
    }
    return m;
}

}  // namespace

TEST_CASE("files: manifest keeps entries sorted by path, one per path") {
    file_manifest m;
    CHECK(m.put(entry("b", 2, "h2")));
    CHECK(m.put(entry("a/z", 1, "h1")));
    CHECK(m.put(entry("a", 3, "h3")));
    CHECK_FALSE(m.put(entry("b", 20, "h20", 2, 5)));  // replace
    REQUIRE(m.size() == 3);
    CHECK(m.total_bytes() == 1 + 3 + 20);

    const auto v = m.entries();
    CHECK(v[0].path == "a");
    CHECK(v[1].path == "a/z");
    CHECK(v[2].path == "b");
    CHECK(v[2].pos() == position{2, 5});
    REQUIRE(m.find("a/z"));
    CHECK(m.find("a/z")->hash == "h1");
    CHECK(m.find("nope") == nullptr);

    CHECK(m.remove("a"));
    CHECK_FALSE(m.remove("a"));
    CHECK(m.size() == 2);
    CHECK(m.total_bytes() == 21);
}

TEST_CASE("files: manifest from a list refuses duplicate paths") {
    std::string why;
    CHECK_FALSE(file_manifest::from_entries({entry("x", 1, "h"), entry("y", 1, "h"), entry("x", 2, "g")}, &why));
    CHECK(why.find("x") != std::string::npos);
    auto m = file_manifest::from_entries({entry("y", 1, "h"), entry("x", 2, "g")});
    REQUIRE(m);
    CHECK(m->entries().front().path == "x");
}

TEST_CASE("files: file_entry round-trips through MessagePack") {
    const file_entry e = entry("dir/f", 123456789012ULL, std::string(64, 'f'), 7, 42);
    msgpack::sbuffer buf;
    msgpack::pack(buf, e);
    const auto handle = msgpack::unpack(buf.data(), buf.size());
    CHECK(handle.get().as<file_entry>() == e);
}

TEST_CASE("files: diff fetches new and changed files and deletes missing ones") {
    file_manifest local, remote;
    local.put(entry("same", 10, "h-same", 1, 1));
    local.put(entry("changed", 10, "h-old", 1, 2));
    local.put(entry("resized", 10, "h-r", 1, 3));
    local.put(entry("gone", 10, "h-gone", 1, 4));
    local.put(entry("moved-pos", 10, "h-m", 1, 5));
    local.put(entry("unknown-hash", 10, "", 1, 6));

    remote.put(entry("same", 10, "h-same", 1, 1));
    remote.put(entry("changed", 10, "h-new", 2, 7));
    remote.put(entry("resized", 11, "h-r", 2, 8));  // same hash text, other size: not the same content
    remote.put(entry("new", 5, "h-n", 2, 9));
    remote.put(entry("moved-pos", 10, "h-m", 2, 10));  // same content at another position
    remote.put(entry("unknown-hash", 10, "", 1, 6));  // an unknown hash is never "the same"

    const auto d = diff(local, remote);
    REQUIRE(d.to_fetch.size() == 4);
    CHECK(d.to_fetch[0].path == "changed");
    CHECK(d.to_fetch[1].path == "new");
    CHECK(d.to_fetch[2].path == "resized");
    CHECK(d.to_fetch[3].path == "unknown-hash");
    CHECK(d.bytes_to_fetch == 10 + 5 + 11 + 10);
    CHECK(d.to_delete == std::vector<std::string>{"gone"});
    REQUIRE(d.to_relabel.size() == 1);
    CHECK(d.to_relabel[0] == entry("moved-pos", 10, "h-m", 2, 10));
    CHECK_FALSE(d.in_sync());
}

TEST_CASE("files: diff of empty manifests and one-sided manifests") {
    file_manifest empty, full;
    full.put(entry("a", 1, "h1"));
    full.put(entry("b", 2, "h2"));
    CHECK(diff(empty, empty).in_sync());
    const auto fetch_all = diff(empty, full);
    CHECK(fetch_all.to_fetch.size() == 2);
    CHECK(fetch_all.to_delete.empty());
    const auto delete_all = diff(full, empty);
    CHECK(delete_all.to_fetch.empty());
    CHECK(delete_all.to_delete == std::vector<std::string>{"a", "b"});
}

TEST_CASE("files: diff over 10,000 entries when nothing changed and when 1% changed is fast") {
    const file_manifest local = many(10000);
    file_manifest remote = local;

    auto t0 = std::chrono::steady_clock::now();
    const auto nothing = diff(local, remote);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(nothing.in_sync());
    CHECK(nothing.to_relabel.empty());
    CHECK(elapsed < std::chrono::milliseconds(100));

    // 1%: 50 changed contents, 25 new files, 25 deleted files.
    const auto all = local.entries();
    for (std::size_t i = 0; i < 50; ++i) {
        auto e = all[i * 200];
        e.hash = std::string(64, 'b');
        e.epoch = 2;
        remote.put(e);
    }
    for (std::size_t i = 0; i < 25; ++i) remote.put(entry("new/" + std::to_string(i), 100, "hn", 2, 20000 + i));
    for (std::size_t i = 0; i < 25; ++i) REQUIRE(remote.remove(all[i * 200 + 100].path));

    t0 = std::chrono::steady_clock::now();
    const auto some = diff(local, remote);
    elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(some.to_fetch.size() == 75);
    CHECK(some.to_delete.size() == 25);
    CHECK(some.bytes_to_fetch == 50 * 4096 + 25 * 100);
    CHECK(elapsed < std::chrono::milliseconds(100));
}

TEST_CASE("files: the manifest counts references to each version, so a store knows what it may delete") {
    file_manifest m;
    const std::string h1(64, '1'), h2(64, '2');
    m.put(entry("a", 1, h1));
    m.put(entry("b", 1, h1));  // two paths, one content
    CHECK(m.references(h1) == 2);
    m.put(entry("a", 1, h2));  // a replaced
    CHECK(m.references(h1) == 1);
    CHECK(m.references(h2) == 1);
    m.remove("b");
    CHECK(m.references(h1) == 0);
    m.remove("a");
    CHECK(m.references(h2) == 0);
    CHECK(m.empty());
}

TEST_CASE("files: content compares by SHA-256, or by XXH3-128 when one side knows only that") {
    file_entry a{"p", 10, std::string(64, 'a'), 1, 1, std::string(32, 'x')};
    file_entry b = a;
    b.epoch = 7;  // another position: same content
    CHECK(a.same_content(b));
    file_entry local{"p", 10, "", 0, 0, std::string(32, 'x')};  // a mirror re-read the file: no SHA-256
    CHECK(local.same_content(a));
    local.xxh = std::string(32, 'y');
    CHECK_FALSE(local.same_content(a));
    file_entry unknown{"p", 10, "", 0, 0, ""};
    CHECK_FALSE(unknown.same_content(unknown));  // nothing known: fetch
    b.size = 11;
    CHECK_FALSE(a.same_content(b));
}

TEST_CASE("files: a file change carries its metadata, and malformed metadata is refused") {
    const file_entry e{"dir/f.bin", 123, std::string(64, 'c'), 3, 44, std::string(32, 'd')};
    const change c = file_put_change(e);
    CHECK(c.op == change_op::file_put);
    CHECK(c.cls == change_class::config);
    CHECK(c.key == e.path);
    auto back = file_entry_of(c);
    REQUIRE(back);
    CHECK(*back == e);
    for (const std::string& bad : {std::string(), std::string("\x93"), std::string("garbage"),
                                  encode_file_meta({1, "UPPERCASE", std::string(32, 'd')}),
                                  encode_file_meta({1, std::string(64, 'c'), "short"})}) {
        INFO("value of " << bad.size() << " bytes");
        CHECK_FALSE(decode_file_meta(bad));
        change broken = c;
        broken.value = bad;
        CHECK_FALSE(file_entry_of(broken));
    }
}

// decode_file_meta's limits admit the largest metadata a broker writes: the widest size, both digests, at the
// longest path (the path is the change's key, not part of the value).
TEST_CASE("files: the largest file metadata reads back, and a longer digest is refused") {
    const std::string longest_path = starbus::test::longest_path();
    const file_entry e{longest_path,          starbus::test::widest, std::string(64, 'c'),
                       starbus::test::widest, starbus::test::widest, std::string(32, 'd')};
    auto back = file_entry_of(file_put_change(e));
    REQUIRE(back);
    CHECK(*back == e);
    CHECK_FALSE(decode_file_meta(encode_file_meta({1, std::string(65, 'c'), std::string(32, 'd')})));
}
