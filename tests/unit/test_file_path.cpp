// File: test_file_path.cpp
// Remote path normalisation against a table of hostile names, and confinement
// on disk: symlink escapes, device files, fifos and non-directories in the way.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/types.h>

#include <fstream>
#include <optional>
#include <string>

#include <starbus/wire/file_path.hpp>

#include "testutil.hpp"

using namespace starbus;
using namespace std::string_literals;

namespace {

struct path_case {
    std::string raw;
    std::optional<std::string> expected;  // the canonical form, or nothing when refused
    const char* what;
};

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

void touch(const std::filesystem::path& p) { std::ofstream(p) << "x"; }

}  // namespace

TEST_CASE("files: normalise_remote_path against a table of hostile and benign names") {
    const std::string c255(255, 'c');
    const std::string deep32 = repeat("d/", 31) + "f";   // 32 components
    const std::string deep33 = repeat("d/", 32) + "f";   // 33 components
    const std::string long1024 = repeat(c255 + "/", 3) + std::string(254, 'e') + "/e";  // 1024 bytes
    const std::vector<path_case> table = {
        // Accepted, possibly rewritten to the canonical form.
        {"a", "a", "plain name"},
        {"dir/file.txt", "dir/file.txt", "two components"},
        {"a//b", "a/b", "empty component collapses"},
        {"a/./b", "a/b", "'.' component drops"},
        {"./a", "a", "leading './' drops"},
        {"a/.", "a", "trailing '/.' drops"},
        {"a///./././/b", "a/b", "mixed empty and '.'"},
        {"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "valid UTF-8"},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "4-byte UTF-8 (emoji)"},
        {"..a", "..a", "dots inside a name are fine"},
        {"a..", "a..", "trailing dots inside a name are fine"},
        {"...", "...", "three dots is a name"},
        {".hidden", ".hidden", "dot file"},
        {"starbus/x", "starbus/x", "'starbus' without the dot is not reserved"},
        {"a/.starbu", "a/.starbu", "shorter than the reserved prefix"},
        {"log-10:00.txt", "log-10:00.txt", "colon not in drive position"},
        {"a b/c d", "a b/c d", "spaces"},
        {c255, c255, "component of exactly 255 bytes"},
        {deep32, deep32, "depth exactly 32"},
        {long1024, long1024, "exactly 1024 bytes"},
        // Refused.
        {"", std::nullopt, "empty"},
        {".", std::nullopt, "only '.'"},
        {"./", std::nullopt, "'./' names no file"},
        {"..", std::nullopt, "only '..'"},
        {"../x", std::nullopt, "parent escape"},
        {"a/../../b", std::nullopt, "nested parent escape"},
        {"a/../b", std::nullopt, "'..' is refused even when it would stay inside"},
        {"a/..", std::nullopt, "trailing '..'"},
        {"/etc/passwd", std::nullopt, "absolute"},
        {"//server/share", std::nullopt, "UNC-like absolute"},
        {"/", std::nullopt, "root"},
        {"a/", std::nullopt, "trailing slash"},
        {"C:\\x", std::nullopt, "Windows absolute"},
        {"C:x", std::nullopt, "drive-relative"},
        {"c:/x", std::nullopt, "drive with slash"},
        {"a\\b", std::nullopt, "backslash separator"},
        {"..\\x", std::nullopt, "backslash parent escape"},
        {"\x01", std::nullopt, "control character"},
        {"a\nb", std::nullopt, "newline (log injection)"},
        {"a\tb", std::nullopt, "tab"},
        {"a\x7f", std::nullopt, "DEL"},
        {"a\xc2\x85", std::nullopt, "C1 control NEL"},
        {"a\0b"s, std::nullopt, "embedded NUL"},
        {"\xff", std::nullopt, "invalid byte 0xFF"},
        {"\x80", std::nullopt, "lone continuation byte"},
        {"\xc3", std::nullopt, "truncated sequence"},
        {"\xc0\xaf", std::nullopt, "overlong '/'"},
        {"\xe0\x80\xae\xe0\x80\xae/x", std::nullopt, "overlong '..'"},
        {"\xed\xa0\x80", std::nullopt, "UTF-16 surrogate"},
        {"\xf4\x90\x80\x80", std::nullopt, "beyond U+10FFFF"},
        {".starbus-tmp", std::nullopt, "reserved name"},
        {".starbus", std::nullopt, "reserved name, exact"},
        {"a/.starbus-manifest", std::nullopt, "reserved name deeper down"},
        {".STARBUS-tmp", std::nullopt, "reserved name in another case"},
        {c255 + "c", std::nullopt, "component of 256 bytes"},
        {deep33, std::nullopt, "depth 33"},
        {long1024 + "e", std::nullopt, "1025 bytes"},
        {repeat("a/", 600) + "b", std::nullopt, "very long and very deep"},
    };
    REQUIRE(table.size() >= 30);
    for (const auto& c : table) {
        INFO(c.what << ": \"" << c.raw << "\"");
        std::string why;
        const auto got = normalise_remote_path(c.raw, &why);
        CHECK(got == c.expected);
        // Every refusal says why; every acceptance is already canonical (idempotent).
        if (!got) CHECK_FALSE(why.empty());
        if (got) CHECK(normalise_remote_path(*got) == got);
    }
}

TEST_CASE("files: confine resolves a canonical path under the base directory") {
    test::temp_dir base;
    std::string why;
    auto p = confine(base.path(), "a/b/c.txt", &why);
    REQUIRE(p);
    CHECK(*p == base.path() / "a" / "b" / "c.txt");

    std::filesystem::create_directories(base.path() / "a" / "b");
    touch(base.path() / "a" / "b" / "c.txt");
    CHECK(confine(base.path(), "a/b/c.txt") == p);  // an existing regular file is fine
}

TEST_CASE("files: confine refuses paths that are not canonical") {
    test::temp_dir base;
    std::string why;
    CHECK_FALSE(confine(base.path(), "a//b", &why));
    CHECK(why.find("canonical") != std::string::npos);
    CHECK_FALSE(confine(base.path(), "../x"));
    CHECK_FALSE(confine(base.path(), "/etc/passwd"));
    CHECK_FALSE(confine(base.path() / "missing", "a"));
}

TEST_CASE("files: confine refuses a symlink escape at any depth") {
    test::temp_dir base;
    test::temp_dir outside;
    touch(outside.path() / "secret");
    std::filesystem::create_directory(base.path() / "d");
    std::filesystem::create_directory_symlink(outside.path(), base.path() / "d" / "link");
    std::filesystem::create_symlink(outside.path() / "secret", base.path() / "file-link");
    std::filesystem::create_directory_symlink(outside.path(), base.path() / "top");

    std::string why;
    CHECK_FALSE(confine(base.path(), "d/link/secret", &why));
    CHECK(why.find("symlink") != std::string::npos);
    CHECK_FALSE(confine(base.path(), "d/link/new-file"));  // would create outside
    CHECK_FALSE(confine(base.path(), "file-link"));        // would overwrite outside
    CHECK_FALSE(confine(base.path(), "top/secret"));
    CHECK(confine(base.path(), "d/plain"));
}

TEST_CASE("files: confine refuses device files, fifos and non-directories in the way") {
    test::temp_dir base;
    REQUIRE(::mkfifo((base.path() / "fifo").c_str(), 0600) == 0);
    std::filesystem::create_directory(base.path() / "dir");
    touch(base.path() / "plain");

    std::string why;
    CHECK_FALSE(confine(base.path(), "fifo", &why));
    CHECK(why.find("not a regular file") != std::string::npos);
    CHECK_FALSE(confine(base.path(), "dir"));           // a file path cannot name a directory
    CHECK_FALSE(confine(base.path(), "plain/below"));   // a file where a directory should be
    CHECK_FALSE(confine(base.path(), "fifo/below"));

    // A device file: a symlink to /dev/null is refused as a symlink, so the case
    // that matters is a base directory holding a device node, as /dev does.
    if (std::filesystem::exists("/dev/null")) {
        CHECK_FALSE(confine("/dev", "null", &why));
        CHECK(why.find("not a regular file") != std::string::npos);
    }
}
