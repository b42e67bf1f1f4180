// File: test_mirror_index.cpp
// A mirror's index of its directory: a scan reads again only files whose size,
// mtime or inode changed, reports names that cannot be remote paths, skips the
// mirror's own files and symlinks, and survives a save and load, the longest
// remote path included.
#include <catch2/catch.hpp>

#include <fstream>

#include <starbus/files/fast_hash.hpp>

#include "largest_values.hpp"
#include "mirror_index.hpp"
#include "testutil.hpp"

using namespace starbus;
using starbus::client_detail::mirror_index;

namespace {

void write(const std::filesystem::path& p, const std::string& content) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
}

}  // namespace

TEST_CASE("files: a mirror's scan re-reads only what changed on disk") {
    starbus::test::temp_dir dir;
    write(dir.path() / "a.txt", "alpha");
    write(dir.path() / "sub" / "b.txt", "beta");
    write(dir.path() / ".starbus-tmp" / "partial", "ignored");
    write(dir.path() / "bad\x01name", "a control character: not a remote path");
    std::filesystem::create_symlink("/etc/passwd", dir.path() / "link");
    mirror_index index(dir.path());
    auto first = index.scan();
    CHECK(first.rehashed == 2);
    CHECK(first.strays == std::vector<std::string>{"bad\x01name"});
    CHECK(index.size() == 2);
    const file_manifest m = index.manifest();
    REQUIRE(m.find("sub/b.txt"));
    CHECK(m.find("sub/b.txt")->xxh == xxh128_bytes("beta"));
    CHECK(m.find("sub/b.txt")->hash.empty());  // a scan knows only the fast digest
    CHECK_FALSE(m.find("link"));

    auto second = index.scan();
    CHECK(second.rehashed == 0);  // nothing changed: one stat per file, no read
    write(dir.path() / "a.txt", "ALPHA, longer");
    std::filesystem::remove(dir.path() / "sub" / "b.txt");
    auto third = index.scan();
    CHECK(third.rehashed == 1);
    CHECK(index.size() == 1);
    CHECK(index.manifest().find("a.txt")->xxh == xxh128_bytes("ALPHA, longer"));

    file_entry fetched{"a.txt", 13, std::string(64, 'a'), 4, 40, xxh128_bytes("ALPHA, longer")};
    index.relabel(fetched);
    REQUIRE(index.save());
    mirror_index loaded(dir.path());
    REQUIRE(loaded.load());
    CHECK(loaded.manifest() == index.manifest());
    CHECK(loaded.scan().rehashed == 0);  // the saved stat data still matches
}

TEST_CASE("files: an unreadable index only costs a full re-read") {
    starbus::test::temp_dir dir;
    write(dir.path() / client_detail::mirror_index_name, "not msgpack at all \xc1");
    mirror_index index(dir.path());
    std::string why;
    CHECK_FALSE(index.load(&why));
    CHECK(why.find("every file is read again") != std::string::npos);
    CHECK(index.size() == 0);
}

TEST_CASE("files: a mirror's index of a file at the longest path survives a save and load") {
    starbus::test::temp_dir dir;
    const std::string path = starbus::test::longest_path();
    write(dir.path() / path, "deep");
    mirror_index index(dir.path());
    auto scanned = index.scan();
    REQUIRE(scanned.errors.empty());
    REQUIRE(scanned.strays.empty());
    REQUIRE(index.size() == 1);
    file_entry fetched{
        path, 4, std::string(64, 'a'), starbus::test::widest, starbus::test::widest, xxh128_bytes("deep")};
    index.relabel(fetched);
    REQUIRE(index.save());
    mirror_index loaded(dir.path());
    std::string why;
    INFO(why);
    REQUIRE(loaded.load(&why));
    REQUIRE(loaded.manifest().find(path));
    CHECK(*loaded.manifest().find(path) == *index.manifest().find(path));
}
