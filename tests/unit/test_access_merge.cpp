// File: test_access_merge.cpp
// The effective access list (access_merge.hpp): the cluster file's [[client]]
// tables, each replaced or revoked by the replicated "$starbus/access/NAME"
// entry of its name, plus the replicated entries of other names; by name, and
// one name per key.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <starbus/security/access_merge.hpp>

using namespace starbus;

namespace {

using replicated_list = std::vector<std::pair<std::string_view, std::string_view>>;

// Distinct valid Z85 keys: 40 times one letter.
std::string key_of(char c) { return std::string(40, c); }

client_grant grant(std::string name, access_role role, char key) { return {std::move(name), role, key_of(key)}; }

// "ROLE KEY" as `starbus access grant` writes it.
std::string value(access_role role, char key) { return std::string(to_string(role)) + " " + key_of(key); }

std::vector<std::string> names_of(const std::vector<access_list_entry>& list) {
    std::vector<std::string> out;
    for (const auto& e : list) out.push_back(e.name);
    return out;
}

const access_list_entry* named(const std::vector<access_list_entry>& list, const std::string& name) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.name == name; });
    return it == list.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("access_merge: the cluster file's clients, by name, marked as from the file", "[security][access_merge]") {
    const auto list =
        merge_access_list({grant("zoe", access_role::admin, 'z'), grant("al", access_role::reader, 'a')}, {});
    REQUIRE(names_of(list) == std::vector<std::string>{"al", "zoe"});
    CHECK(list[0].role == access_role::reader);
    CHECK(list[0].public_key == key_of('a'));
    CHECK(list[0].from_file);
    CHECK(list[1].role == access_role::admin);
    CHECK(list[1].from_file);
    CHECK(merge_access_list({}, {}).empty());
}

TEST_CASE("access_merge: a replicated entry replaces the file's, revoked removes it, other names are added",
          "[security][access_merge]") {
    const std::vector<client_grant> file = {grant("al", access_role::reader, 'a'),
                                            grant("bo", access_role::writer, 'b'),
                                            grant("cy", access_role::admin, 'c')};
    const std::string al = value(access_role::admin, 'A');  // al gets a new key and a higher role
    const std::string dan = value(access_role::writer, 'd');
    const replicated_list replicated = {
        {"$starbus/access/dan", dan},       // a new client, granted with `starbus access grant`
        {"$starbus/access/bo", "revoked"},  // bo is cut off, although the cluster file still lists him
        {"$starbus/access/al", al},
    };
    const auto list = merge_access_list(file, replicated);
    REQUIRE(names_of(list) == std::vector<std::string>{"al", "cy", "dan"});
    const access_list_entry* a = named(list, "al");
    CHECK(a->role == access_role::admin);
    CHECK(a->public_key == key_of('A'));
    CHECK_FALSE(a->from_file);  // changed since by `starbus access`
    CHECK(named(list, "cy")->from_file);
    CHECK(named(list, "cy")->role == access_role::admin);
    CHECK(named(list, "dan")->role == access_role::writer);
    CHECK(named(list, "dan")->public_key == key_of('d'));
    CHECK_FALSE(named(list, "dan")->from_file);
    CHECK(named(list, "bo") == nullptr);

    // The same entries in another order give the same list.
    const replicated_list reversed(replicated.rbegin(), replicated.rend());
    const auto again = merge_access_list(file, reversed);
    REQUIRE(again.size() == list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        CHECK(again[i].name == list[i].name);
        CHECK(again[i].role == list[i].role);
        CHECK(again[i].public_key == list[i].public_key);
        CHECK(again[i].from_file == list[i].from_file);
    }

    // A revocation of a name nobody has is no entry either.
    CHECK(merge_access_list({}, {{"$starbus/access/ghost", "revoked"}}).empty());
}

TEST_CASE("access_merge: keys outside the access prefix are ignored, a malformed value counts as revoked",
          "[security][access_merge]") {
    const std::vector<client_grant> file = {grant("al", access_role::writer, 'a'),
                                            grant("bo", access_role::writer, 'b')};
    const std::string admin_x = value(access_role::admin, 'x');
    const auto list = merge_access_list(file, {
                                                  {"limits.max", admin_x},             // an ordinary key
                                                  {"$starbus/accessor/eve", admin_x},  // not the prefix
                                                  {"$starbus/access/bo", "admin"},     // malformed: no key
                                                  {"$starbus/access/eve", "root x"},   // malformed: no role
                                              });
    // Fail closed: a value that does not parse (replicas never let one in) takes the name's access away.
    REQUIRE(names_of(list) == std::vector<std::string>{"al"});
    CHECK(list[0].role == access_role::writer);
    CHECK(list[0].from_file);
}

TEST_CASE("access_merge: of two names holding one key, the first by name keeps it", "[security][access_merge]") {
    // A file entry and a replicated one.
    auto list = merge_access_list({grant("bob", access_role::admin, 'k')},
                                  {{"$starbus/access/alice", value(access_role::reader, 'k')}});
    REQUIRE(names_of(list) == std::vector<std::string>{"alice"});
    CHECK(list[0].role == access_role::reader);  // the key acts as alice, never as the admin bob
    CHECK_FALSE(list[0].from_file);

    // Two replicated ones, whatever their order.
    const std::string k_writer = value(access_role::writer, 'k');
    const std::string k_admin = value(access_role::admin, 'k');
    list = merge_access_list({}, {{"$starbus/access/zed", k_admin}, {"$starbus/access/max", k_writer}});
    REQUIRE(names_of(list) == std::vector<std::string>{"max"});
    CHECK(list[0].role == access_role::writer);

    // Every key is in the list once, and the others are untouched.
    list = merge_access_list({grant("a", access_role::reader, 'k'), grant("b", access_role::reader, 'k'),
                              grant("c", access_role::writer, 'm')},
                             {});
    REQUIRE(names_of(list) == std::vector<std::string>{"a", "c"});
    CHECK(list[1].public_key == key_of('m'));
}
