// File: test_access_entry.cpp
// The access list as the replicated state holds it (access_entry.hpp,
// docs/protocol.md "Security"): roles and their names, what a Z85 key and a
// client name look like, the value "ROLE KEY" / "revoked" and its round trip,
// and the reserved-key rule for keys under "$starbus/" (checked through the
// codec in test_codec.cpp).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <starbus/wire/access_entry.hpp>

using namespace starbus;

namespace {

// The Z85 alphabet of RFC 32, in its order.
const std::string z85_alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// A public key from the CurveZMQ examples (RFC 26): 40 characters of the alphabet.
const std::string some_key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

}  // namespace

TEST_CASE("access_entry: roles have names, and only those names parse", "[security][access_entry]") {
    CHECK(to_string(access_role::reader) == "reader");
    CHECK(to_string(access_role::writer) == "writer");
    CHECK(to_string(access_role::admin) == "admin");
    for (auto r : {access_role::reader, access_role::writer, access_role::admin}) {
        INFO(to_string(r));
        CHECK(parse_access_role(to_string(r)) == r);
    }
    for (const char* bad : {"", "Reader", "ADMIN", "root", "writer ", " admin", "read"}) {
        INFO("role \"" << bad << "\"");
        CHECK_FALSE(parse_access_role(bad));
    }
    // Each role includes the ones before it: the order is what access control compares.
    CHECK(access_role::reader < access_role::writer);
    CHECK(access_role::writer < access_role::admin);
}

TEST_CASE("access_entry: a Z85 key is exactly 40 characters of the Z85 alphabet", "[security][access_entry]") {
    REQUIRE(z85_alphabet.size() == 85);
    REQUIRE(some_key.size() == z85_key_chars);
    CHECK(is_z85_key(some_key));
    // Every character of the alphabet is accepted, wherever it stands.
    for (char c : z85_alphabet) {
        INFO("character " << c);
        CHECK(is_z85_key(std::string(39, 'a') + c));
    }
    CHECK_FALSE(is_z85_key(""));
    CHECK_FALSE(is_z85_key(some_key.substr(0, 39)));
    CHECK_FALSE(is_z85_key(some_key + "a"));
    CHECK_FALSE(is_z85_key(std::string(80, 'a')));  // the 32 bytes in hex are no Z85 key
    // Printable characters outside the alphabet, and what a careless copy brings along.
    for (char c : std::string(" \"',;\\_`|~\t\r\n") + '\0' + "\xff") {
        INFO("character code " << static_cast<int>(static_cast<unsigned char>(c)));
        std::string k = some_key;
        k[17] = c;
        CHECK_FALSE(is_z85_key(k));
    }
}

TEST_CASE("access_entry: a name is 1 to 64 letters, digits, '-', '_' or '.'", "[security][access_entry]") {
    for (const std::string& ok : std::vector<std::string>{"a", "writer-1", "ops_team.eu", "A9", std::string(64, 'n')}) {
        INFO("name \"" << ok << "\"");
        CHECK(name_error(ok).empty());
    }
    CHECK(name_error("") == "is empty");
    CHECK(name_error(std::string(65, 'n')) == "is longer than 64 characters");
    for (const std::string& bad :
         std::vector<std::string>{"a b", "a/b", "../x", "x;y", "$starbus", "caf\xc3\xa9", "tab\t", "a:b"}) {
        INFO("name \"" << bad << "\"");
        CHECK_THAT(name_error(bad), Catch::Contains("may hold only letters, digits"));
    }
}

TEST_CASE("access_entry: an entry's value is ROLE KEY or revoked, and survives a round trip",
          "[security][access_entry]") {
    for (auto role : {access_role::reader, access_role::writer, access_role::admin}) {
        INFO(to_string(role));
        access_value v;
        v.role = role;
        v.public_key = some_key;
        const std::string text = access_value_text(v);
        CHECK(text == std::string(to_string(role)) + " " + some_key);
        auto back = parse_access_value(text);
        REQUIRE(back);
        CHECK_FALSE(back->revoked);
        CHECK(back->role == role);
        CHECK(back->public_key == some_key);
    }
    access_value gone;
    gone.revoked = true;
    gone.public_key = some_key;  // a revoked entry carries no key: the text is the same
    CHECK(access_value_text(gone) == "revoked");
    auto r = parse_access_value("revoked");
    REQUIRE(r);
    CHECK(r->revoked);
    CHECK(r->public_key.empty());
    CHECK(access_value_text(*r) == "revoked");
    CHECK(access_key("writer-1") == "$starbus/access/writer-1");
}

TEST_CASE("access_entry: a malformed value is refused", "[security][access_entry]") {
    for (const std::string& bad : std::vector<std::string>{
             std::string(""),
             std::string("writer"),                        // no key
             std::string("writer") + some_key,             // no space
             std::string("writer ") + some_key + " ",      // trailing space
             std::string("writer  ") + some_key,           // two spaces
             std::string(" writer ") + some_key,           // leading space
             std::string("boss ") + some_key,              // no such role
             std::string("Writer ") + some_key,            // roles are lower case
             std::string("writer ") + some_key.substr(1),  // short key
             std::string("writer ") + some_key + "x",      // long key
             std::string("writer\t") + some_key,           // not a space
             std::string(some_key) + " writer",            // the wrong order
             std::string("revoked "),
             std::string("Revoked"),
             std::string("revoked ") + some_key,
             std::string("writer ") + some_key + "\n",
         }) {
        INFO("value \"" << bad << "\"");
        CHECK_FALSE(parse_access_value(bad));
    }
}

TEST_CASE("access_entry: keys under $starbus/ are reserved for well-formed access entries",
          "[security][access_entry]") {
    const std::string grant = "admin " + some_key;
    // Keys outside "$starbus/" pass whatever they hold and whatever their class.
    CHECK(reserved_key_error("limits.max", true, "anything", false).empty());
    CHECK(reserved_key_error("$starbus", true, "x", false).empty());  // not under "$starbus/"
    CHECK(reserved_key_error("starbus/access/x", true, "x", true).empty());
    CHECK(reserved_key_error("a/$starbus/access/x", true, "x", false).empty());

    // An access entry: a config put of a valid value, a config erase, "revoked".
    CHECK(reserved_key_error("$starbus/access/alice", true, grant, true).empty());
    CHECK(reserved_key_error("$starbus/access/alice", true, "revoked", true).empty());
    CHECK(reserved_key_error("$starbus/access/alice", false, "", true).empty());
    // Any reserved key may be erased, of either class: one a cluster held before the rule can go.
    CHECK(reserved_key_error("$starbus/other", false, "", true).empty());
    CHECK(reserved_key_error("$starbus/access/alice", false, "", false).empty());
    CHECK(reserved_key_error("$starbus/access/" + std::string(65, 'n'), false, "", true).empty());

    // Anything else under "$starbus/" is refused, with what is wrong.
    CHECK_THAT(reserved_key_error("$starbus/other", true, grant, true), Catch::Contains("reserved"));
    CHECK_THAT(reserved_key_error("$starbus/", true, grant, true), Catch::Contains("reserved"));
    CHECK_THAT(reserved_key_error("$starbus/access", true, grant, true), Catch::Contains("reserved"));
    CHECK_THAT(reserved_key_error("$starbus/access/alice", true, grant, false), Catch::Contains("class config"));
    CHECK_THAT(reserved_key_error("$starbus/access/", true, grant, true), Catch::Contains("is empty"));
    CHECK_THAT(reserved_key_error("$starbus/access/a/b", true, grant, true), Catch::Contains("may hold only"));
    CHECK_THAT(reserved_key_error("$starbus/access/" + std::string(65, 'n'), true, grant, true),
               Catch::Contains("longer than 64"));
    CHECK_THAT(reserved_key_error("$starbus/access/alice", true, "admin", true), Catch::Contains("ROLE PUBLIC-KEY"));
    CHECK_THAT(reserved_key_error("$starbus/access/alice", true, "", true), Catch::Contains("ROLE PUBLIC-KEY"));
    CHECK_THAT(reserved_key_error("$starbus/access/alice", true, "root " + some_key, true),
               Catch::Contains("ROLE PUBLIC-KEY"));
}
