// File: test_key_files.cpp
// CURVE key pairs and their files (key_files.hpp): fresh pairs from libzmq,
// NAME.key (mode 0600, both keys) and NAME.pub (public key only) in CZMQ's
// zcert text format, refusals that name the file and what to do, and reading
// back .key, .pub and bare-key files. Every case works in a temporary
// directory of its own.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <starbus/security/key_files.hpp>
#include <starbus/wire/access_entry.hpp>

#include "testutil.hpp"

using namespace starbus;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

// The permission bits of `p` (0777 mask).
unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

std::string key_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const key_error& e) {
        return e.what();
    }
    return "(no error)";
}

// A zcert file as CZMQ's zcert_save writes it (four spaces before each property).
std::string zcert_text(const std::string& public_key, const std::string& secret_key) {
    std::string t =
        "#   ZeroMQ CURVE **Secret** Certificate\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS\n\n"
        "metadata\ncurve\n    public-key = \"" +
        public_key + "\"\n";
    if (!secret_key.empty()) t += "    secret-key = \"" + secret_key + "\"\n";
    return t;
}

}  // namespace

TEST_CASE("key_files: a fresh pair is two distinct Z85 keys that belong together", "[security][key_files]") {
    const curve_key_pair a = generate_curve_key_pair();
    const curve_key_pair b = generate_curve_key_pair();
    CHECK(is_z85_key(a.public_key));
    CHECK(is_z85_key(a.secret_key));
    CHECK(a.public_key != a.secret_key);
    CHECK_FALSE(a.empty());
    CHECK(a.public_key != b.public_key);  // fresh randomness each time
    CHECK(a.secret_key != b.secret_key);
    CHECK(public_key_of(a.secret_key) == a.public_key);
    CHECK(public_key_of(b.secret_key) == b.public_key);
    CHECK(public_key_of(a.secret_key) != b.public_key);
    CHECK(curve_key_pair{}.empty());
    CHECK_THROWS_AS(public_key_of(""), key_error);
    CHECK_THROWS_AS(public_key_of(a.secret_key.substr(1)), key_error);
    CHECK_THROWS_AS(public_key_of(a.secret_key + " "), key_error);
}

TEST_CASE("key_files: keygen writes NAME.key for its owner only and NAME.pub without the secret",
          "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair keys = generate_curve_key_pair();
    const written_key_files files = write_key_files(dir.path(), "writer-1", keys, false);
    CHECK(files.secret == dir.path() / "writer-1.key");
    CHECK(files.pub == dir.path() / "writer-1.pub");
    REQUIRE(fs::exists(files.secret));
    REQUIRE(fs::exists(files.pub));
    CHECK_FALSE(fs::exists(dir.path() / "writer-1.key.tmp"));  // no temporary left behind
    CHECK_FALSE(fs::exists(dir.path() / "writer-1.pub.tmp"));

    CHECK(mode_of(files.secret) == 0600);
    CHECK_FALSE(readable_by_others(files.secret));
    CHECK((mode_of(files.pub) & 0400) != 0);  // the owner reads it; others too, as far as the umask allows
    CHECK((mode_of(files.pub) & 0022) == 0);  // nobody else may change it

    const std::string secret_text = read_all(files.secret);
    const std::string pub_text = read_all(files.pub);
    CHECK(secret_text.find(keys.secret_key) != std::string::npos);
    CHECK(secret_text.find(keys.public_key) != std::string::npos);
    CHECK(pub_text.find(keys.public_key) != std::string::npos);
    CHECK(pub_text.find(keys.secret_key) == std::string::npos);
    CHECK(pub_text.find("secret-key") == std::string::npos);

    // zcert's ZPL, as CZMQ's zcert_load reads it: a "curve" section, properties indented by four spaces.
    CHECK(pub_text.find("\ncurve\n") != std::string::npos);
    CHECK(pub_text.find("\n    public-key = \"" + keys.public_key + "\"\n") != std::string::npos);
    CHECK(secret_text.find("\ncurve\n") != std::string::npos);
    CHECK(secret_text.find("\n    public-key = \"" + keys.public_key + "\"\n") != std::string::npos);
    CHECK(secret_text.find("\n    secret-key = \"" + keys.secret_key + "\"\n") != std::string::npos);
    CHECK(secret_text.find("\nmetadata\n    name = \"writer-1\"\n") != std::string::npos);

    // And they read back.
    const curve_key_pair back = load_secret_key_file(files.secret);
    CHECK(back.public_key == keys.public_key);
    CHECK(back.secret_key == keys.secret_key);
    CHECK(load_public_key_file(files.pub) == keys.public_key);
    CHECK(load_public_key_file(files.secret) == keys.public_key);
}

TEST_CASE("key_files: keygen never replaces a key by accident", "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair first = generate_curve_key_pair();
    const curve_key_pair second = generate_curve_key_pair();
    const auto files = write_key_files(dir.path(), "A", first, false);

    CHECK_THAT(key_error_of([&] { (void)write_key_files(dir.path(), "A", second, false); }),
               Catch::Contains("exists") && Catch::Contains("--force"));
    CHECK(load_secret_key_file(files.secret).secret_key == first.secret_key);  // untouched
    CHECK(load_public_key_file(files.pub) == first.public_key);

    // Either file alone is enough to refuse.
    fs::remove(files.secret);
    CHECK_THAT(key_error_of([&] { (void)write_key_files(dir.path(), "A", second, false); }),
               Catch::Contains("A.pub exists"));
    CHECK_FALSE(fs::exists(files.secret));

    // With replace: both are written anew.
    (void)write_key_files(dir.path(), "A", second, true);
    CHECK(load_secret_key_file(files.secret).secret_key == second.secret_key);
    CHECK(load_public_key_file(files.pub) == second.public_key);
    CHECK(mode_of(files.secret) == 0600);
}

TEST_CASE("key_files: keygen refuses a bad name and a missing directory", "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair keys = generate_curve_key_pair();
    for (const std::string& bad : std::vector<std::string>{"", "a b", "../up", "a/b", "x;y", "name\n"}) {
        INFO("name \"" << bad << "\"");
        CHECK_THAT(key_error_of([&] { (void)write_key_files(dir.path(), bad, keys, false); }),
                   Catch::Contains("key name"));
    }
    CHECK_THROWS_AS(write_key_files(dir.path(), std::string(65, 'n'), keys, false), key_error);
    CHECK(fs::is_empty(dir.path()));  // nothing was written, nowhere
    CHECK_FALSE(fs::exists(dir.path().parent_path() / "up.key"));

    const fs::path missing = dir.path() / "no" / "such";
    CHECK_THAT(key_error_of([&] { (void)write_key_files(missing, "A", keys, false); }),
               Catch::Contains("no directory " + missing.string()));
    write_text(dir.path() / "plain", "not a directory");
    CHECK_THROWS_AS(write_key_files(dir.path() / "plain", "A", keys, false), key_error);
}

TEST_CASE("key_files: a secret key file is refused when it is missing, a .pub, or inconsistent",
          "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair mine = generate_curve_key_pair();
    const curve_key_pair other = generate_curve_key_pair();
    const auto files = write_key_files(dir.path(), "c", mine, false);

    const fs::path missing = dir.path() / "nobody.key";
    CHECK_THAT(key_error_of([&] { (void)load_secret_key_file(missing); }),
               Catch::Contains(missing.string()) && Catch::Contains("starbus keygen"));
    CHECK_THAT(key_error_of([&] { (void)load_secret_key_file(files.pub); }),
               Catch::Contains(files.pub.string()) && Catch::Contains("holds no secret-key"));

    const fs::path mixed = dir.path() / "mixed.key";
    write_text(mixed, zcert_text(other.public_key, mine.secret_key));
    CHECK_THAT(key_error_of([&] { (void)load_secret_key_file(mixed); }),
               Catch::Contains(mixed.string()) && Catch::Contains("does not belong"));

    const fs::path short_secret = dir.path() / "short.key";
    write_text(short_secret, zcert_text(mine.public_key, mine.secret_key.substr(0, 39)));
    CHECK_THAT(key_error_of([&] { (void)load_secret_key_file(short_secret); }),
               Catch::Contains("not a 40-character Z85"));

    const fs::path empty = dir.path() / "empty.key";
    write_text(empty, "");
    CHECK_THROWS_AS(load_secret_key_file(empty), key_error);
    CHECK_THROWS_AS(load_secret_key_file(dir.path()), key_error);  // a directory is no key file
}

TEST_CASE("key_files: a certificate from CZMQ or by hand reads too", "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair keys = generate_curve_key_pair();
    // As zcert_save writes it.
    const fs::path czmq = dir.path() / "czmq_secret";
    write_text(czmq, zcert_text(keys.public_key, keys.secret_key));
    CHECK(load_secret_key_file(czmq).public_key == keys.public_key);
    CHECK(load_public_key_file(czmq) == keys.public_key);
    // CRLF line ends and single quotes.
    const fs::path crlf = dir.path() / "crlf.key";
    write_text(crlf, "curve\r\n    public-key = '" + keys.public_key + "'\r\n    secret-key = \"" + keys.secret_key +
                         "\"\r\n");
    const curve_key_pair back = load_secret_key_file(crlf);
    CHECK(back.secret_key == keys.secret_key);
    CHECK(back.public_key == keys.public_key);
    // No public-key line: it is derived from the secret.
    const fs::path secret_only = dir.path() / "secret_only.key";
    write_text(secret_only, "curve\n    secret-key = \"" + keys.secret_key + "\"\n");
    CHECK(load_secret_key_file(secret_only).public_key == keys.public_key);
    // A commented-out key does not count.
    const fs::path commented = dir.path() / "commented.key";
    write_text(commented, "curve\n#    secret-key = \"" + keys.secret_key + "\"\n");
    CHECK_THROWS_AS(load_secret_key_file(commented), key_error);
}

TEST_CASE("key_files: a public key reads from a .pub, a .key or a bare-key file, and garbage is refused",
          "[security][key_files]") {
    test::temp_dir dir;
    const curve_key_pair keys = generate_curve_key_pair();
    const auto files = write_key_files(dir.path(), "bob", keys, false);
    CHECK(load_public_key_file(files.pub) == keys.public_key);
    CHECK(load_public_key_file(files.secret) == keys.public_key);

    const fs::path bare = dir.path() / "bob.txt";
    write_text(bare, "# bob's key, pasted from a mail\n\n  " + keys.public_key + "  \r\n\n");
    CHECK(load_public_key_file(bare) == keys.public_key);
    const fs::path bare_alone = dir.path() / "bob.z85";
    write_text(bare_alone, keys.public_key);  // no newline at all
    CHECK(load_public_key_file(bare_alone) == keys.public_key);

    const auto refused = [&](const std::string& name, const std::string& text) {
        const fs::path p = dir.path() / name;
        write_text(p, text);
        return key_error_of([&] { (void)load_public_key_file(p); });
    };
    CHECK_THAT(refused("garbage", "hello world\n"), Catch::Contains("holds no public-key"));
    CHECK_THAT(refused("empty", ""), Catch::Contains("holds no public-key"));
    CHECK_THAT(refused("two", keys.public_key + "\n" + keys.secret_key + "\n"), Catch::Contains("holds no public-key"));
    CHECK_THAT(refused("short_bare", keys.public_key.substr(0, 39) + "\n"), Catch::Contains("holds no public-key"));
    CHECK_THAT(refused("bad_pub", "curve\n    public-key = \"" + keys.public_key.substr(1) + "\"\n"),
               Catch::Contains("not a 40-character Z85"));
    const fs::path missing = dir.path() / "nobody.pub";
    CHECK_THAT(key_error_of([&] { (void)load_public_key_file(missing); }), Catch::Contains(missing.string()));
}

TEST_CASE("key_files: readable_by_others looks at the group and other bits", "[security][key_files]") {
    test::temp_dir dir;
    const fs::path p = dir.path() / "k";
    write_text(p, "x");
    using fs::perms;
    fs::permissions(p, perms::owner_read | perms::owner_write);
    CHECK_FALSE(readable_by_others(p));
    fs::permissions(p, perms::owner_read | perms::owner_write | perms::group_read);
    CHECK(readable_by_others(p));
    fs::permissions(p, perms::owner_read | perms::others_read);
    CHECK(readable_by_others(p));
    fs::permissions(p, perms::owner_read);
    CHECK_FALSE(readable_by_others(p));
    CHECK_FALSE(readable_by_others(dir.path() / "missing"));
}
