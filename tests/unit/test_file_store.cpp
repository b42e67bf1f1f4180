// File: test_file_store.cpp
// The broker's content-addressed file store: objects found again at start-up,
// unfinished transfers removed, reads bounded by the object, collection of
// versions no manifest entry references (never one still referenced or kept),
// and the list of entries whose content is missing.
#include <catch2/catch.hpp>

#include <fstream>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "file_store.hpp"
#include "testutil.hpp"

using namespace starbus;

namespace {

// Puts `content` into the store as an installed object, the way the installer would.
std::string store_object(file_store& s, const std::string& content) {
    const std::string hash = hash_bytes(content);
    REQUIRE(s.prepare_directory(hash, nullptr));
    std::ofstream(s.object_path(hash), std::ios::binary) << content;
    s.installed(hash, content.size());
    return hash;
}

file_entry entry(const std::string& path, const std::string& hash, std::uint64_t size) {
    return file_entry{path, size, hash, 1, 1, std::string(32, '0')};
}

}  // namespace

TEST_CASE("files: the store finds its objects again and drops unfinished transfers at start-up") {
    starbus::test::temp_dir dir;
    std::string h;
    {
        file_store s(dir.path());
        h = store_object(s, "hello world");
        std::ofstream(s.temp_path(h)) << "half a file";
        CHECK(s.has(h));
    }
    file_store again(dir.path());
    CHECK(again.has(h));
    CHECK(again.size_of(h) == 11);
    CHECK(again.object_count() == 1);
    CHECK(std::filesystem::is_empty(dir.path() / "objects" / "tmp"));
}

TEST_CASE("files: reads are bounded by the object and say why they fail") {
    starbus::test::temp_dir dir;
    file_store s(dir.path());
    const std::string h = store_object(s, "0123456789");
    char buf[16] = {};
    std::string why;
    REQUIRE(s.read(h, 2, 5, buf, &why));
    CHECK(std::string(buf, 5) == "23456");
    CHECK_FALSE(s.read(h, 8, 5, buf, &why));
    CHECK(why.find("outside") != std::string::npos);
    CHECK_FALSE(s.read(std::string(64, 'f'), 0, 1, buf, &why));
    CHECK(why.find("not held") != std::string::npos);
    // An object shorter on disk than recorded (damaged) is refused, not half-read.
    std::filesystem::resize_file(s.object_path(h), 3);
    CHECK_FALSE(s.read(h, 0, 10, buf, &why));
}

TEST_CASE("files: collection deletes only versions nothing references or keeps") {
    starbus::test::temp_dir dir;
    file_store s(dir.path());
    const std::string a = store_object(s, "a"), b = store_object(s, "b"), c = store_object(s, "c");
    file_manifest m;
    m.put(entry("x", a, 1));
    CHECK(s.collect({a, b, c}, m, {c}) == 1);  // b only: a is referenced, c is kept (a transfer uses it)
    CHECK(s.has(a));
    CHECK_FALSE(s.has(b));
    CHECK_FALSE(std::filesystem::exists(s.object_path(b)));
    CHECK(s.has(c));
    CHECK(s.collect_all(m) == 1);  // c now
    CHECK(s.object_count() == 1);
    m.put(entry("y", std::string(64, 'e'), 5));
    auto missing = s.missing(m);
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].path == "y");
    CHECK(s.free_bytes().has_value());
}
