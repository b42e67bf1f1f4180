// File: test_access_control.cpp
// Who may do what (access_control.hpp, docs/protocol.md "Security"), as the
// pure functions they are: the access list a replica's state and the cluster
// file make, who a key is, what each request needs, the role table
// (reader < writer < admin; only brokers replicate) with the refusal's words,
// and which CURVE handshakes the ZAP handler accepts on which port.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <starbus/security/curve_sockets.hpp>
#include <starbus/state/kv_state.hpp>

#include "access_control.hpp"
#include "change_builders.hpp"

using namespace starbus;

namespace {

// Distinct valid Z85 keys: 40 times one character.
std::string key_of(char c) { return std::string(40, c); }

// Brokers A and B (keys 'A' and 'B'); clients reader-1, writer-1 and admin-1 (keys 'r', 'w', 'a').
const std::string curve_cluster = R"(
[security]
mode = "curve"
[[broker]]
name = "A"
endpoint = "tcp://127.0.0.1:5670"
public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
[[broker]]
name = "B"
endpoint = "tcp://127.0.0.1:5680"
public_key = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
[[client]]
name = "reader-1"
role = "reader"
public_key = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
[[client]]
name = "writer-1"
role = "writer"
public_key = "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
[[client]]
name = "admin-1"
role = "admin"
public_key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)";

// A replica's state, with access entries put one after the other.
struct state_builder {
    kv_state state;
    std::uint64_t seq = 0;
    state_builder& put(const std::string& key, const std::string& value) {
        change c = test::put(1, ++seq, key, value);
        c.cls = change_class::config;
        REQUIRE(state.apply(c));
        return *this;
    }
    state_builder& erase(const std::string& key) {
        change c = test::erase(1, ++seq, key);
        c.cls = change_class::config;
        REQUIRE(state.apply(c));
        return *this;
    }
};

std::string grant_of(access_role r, char key) { return std::string(to_string(r)) + " " + key_of(key); }

// A SET of `key` (request 1 of client 2); an erase carries no value.
set_request set_of(const std::string& key, change_class cls, change_op op = change_op::put) {
    return set_request{1, 2, op, cls, key, op == change_op::put ? std::string("v") : std::string()};
}

peer_identity client_as(access_role role, const std::string& name) {
    peer_identity p;
    p.what = peer_identity::kind::client;
    p.name = name;
    p.role = role;
    p.public_key = key_of('q');
    return p;
}

}  // namespace

TEST_CASE("access_control: the access list is the file's clients with the replicated entries merged in",
          "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "cluster.toml");
    state_builder s;
    s.put("limits.max", "10")                                                // an ordinary key
        .put("$starbus/access/writer-1", grant_of(access_role::admin, 'W'))  // promoted, with a new key
        .put("$starbus/access/reader-1", "revoked")
        .put("$starbus/access/late", grant_of(access_role::reader, 'l'))
        .put("$starbus/access/gone", grant_of(access_role::reader, 'g'))
        .erase("$starbus/access/gone")
        .put("$starbus/accessories", "not an entry");  // sorts right after the prefix: must not be read
    const access_list list = access_list::build(cluster, s.state);

    REQUIRE(list.entries().size() == 3);
    CHECK(list.entries()[0].name == "admin-1");  // by name
    CHECK(list.entries()[1].name == "late");
    CHECK(list.entries()[2].name == "writer-1");

    const access_list_entry* w = list.by_key(key_of('W'));
    REQUIRE(w != nullptr);
    CHECK(w->name == "writer-1");
    CHECK(w->role == access_role::admin);
    CHECK_FALSE(w->from_file);
    CHECK(list.by_key(key_of('w')) == nullptr);  // writer-1's old key is no longer in the list
    CHECK(list.by_key(key_of('r')) == nullptr);  // revoked
    CHECK(list.by_key(key_of('g')) == nullptr);  // erased
    REQUIRE(list.by_key(key_of('a')) != nullptr);
    CHECK(list.by_key(key_of('a'))->from_file);
    REQUIRE(list.by_key(key_of('l')) != nullptr);
    CHECK(list.by_key(key_of('l'))->role == access_role::reader);
    CHECK(list.by_key(key_of('A')) == nullptr);  // brokers are no clients
    CHECK(list.by_key("") == nullptr);

    // An empty state: the cluster file's list alone.
    const access_list initial = access_list::build(cluster, kv_state{});
    CHECK(initial.entries().size() == 3);
    REQUIRE(initial.by_key(key_of('r')) != nullptr);
    CHECK(initial.by_key(key_of('r'))->name == "reader-1");
}

TEST_CASE("access_control: a list narrows when a key goes or loses role, not when one comes or gains",
          "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "f");
    const access_list before = access_list::build(cluster, kv_state{});
    CHECK_FALSE(before.narrows(before));

    state_builder added;
    added.put("$starbus/access/new", grant_of(access_role::admin, 'n'));
    CHECK_FALSE(access_list::build(cluster, added.state).narrows(before));

    state_builder raised;
    raised.put("$starbus/access/reader-1", grant_of(access_role::admin, 'r'));
    CHECK_FALSE(access_list::build(cluster, raised.state).narrows(before));

    state_builder revoked;
    revoked.put("$starbus/access/reader-1", "revoked");
    CHECK(access_list::build(cluster, revoked.state).narrows(before));

    state_builder lowered;
    lowered.put("$starbus/access/admin-1", grant_of(access_role::writer, 'a'));
    CHECK(access_list::build(cluster, lowered.state).narrows(before));

    state_builder rekeyed;  // same name and role, a new key: the old key is gone
    rekeyed.put("$starbus/access/writer-1", grant_of(access_role::writer, 'x'));
    CHECK(access_list::build(cluster, rekeyed.state).narrows(before));

    // And the other way round: the larger list does not narrow into the smaller one, the smaller one does.
    const access_list after = access_list::build(cluster, revoked.state);
    CHECK_FALSE(before.narrows(after));
}

TEST_CASE("access_control: the source mark moves with every change of an access entry and with nothing else",
          "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "f");
    state_builder s;
    s.put("$starbus/access/alice", grant_of(access_role::reader, 'l'));
    const access_list list = access_list::build(cluster, s.state);
    CHECK(access_list::mark_of(s.state) == list.built_from());

    s.put("limits.max", "1").put("$starbus", "not reserved").put("$starbus/accesS", "x");  // other keys
    CHECK(access_list::mark_of(s.state) == list.built_from());

    auto mark = access_list::mark_of(s.state);
    s.put("$starbus/access/alice", grant_of(access_role::admin, 'l'));  // a new role, same count
    CHECK_FALSE(access_list::mark_of(s.state) == mark);
    mark = access_list::mark_of(s.state);
    s.erase("$starbus/access/alice");
    CHECK_FALSE(access_list::mark_of(s.state) == mark);
    mark = access_list::mark_of(s.state);
    s.put("$starbus/access/bob", grant_of(access_role::writer, 'o'));  // removed one, added another
    CHECK_FALSE(access_list::mark_of(s.state) == mark);
    CHECK(access_list::build(cluster, s.state).by_key(key_of('o')) != nullptr);
}

TEST_CASE("access_control: identify tells brokers, clients and unknown keys apart", "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "f");
    state_builder s;
    s.put("$starbus/access/reader-1", "revoked");
    const access_list list = access_list::build(cluster, s.state);

    const peer_identity b = identify(cluster, list, key_of('B'));
    CHECK(b.what == peer_identity::kind::broker);
    CHECK(b.name == "B");
    CHECK(b.public_key.empty());  // only an unknown key is copied, for its refusal

    const peer_identity w = identify(cluster, list, key_of('w'));
    CHECK(w.what == peer_identity::kind::client);
    CHECK(w.name == "writer-1");
    CHECK(w.role == access_role::writer);
    CHECK(identify(cluster, list, key_of('a')).role == access_role::admin);

    const peer_identity gone = identify(cluster, list, key_of('r'));  // revoked since its handshake
    CHECK(gone.what == peer_identity::kind::unknown);
    CHECK(gone.name.empty());
    CHECK(gone.public_key == key_of('r'));
    CHECK(identify(cluster, list, key_of('z')).what == peer_identity::kind::unknown);
    CHECK(identify(cluster, list, "").what == peer_identity::kind::unknown);

    // Security mode none: nobody is authenticated, and everybody is anyone, whatever key they show.
    const cluster_config plain = parse_cluster(R"(
[[broker]]
name = "A"
endpoint = "tcp://127.0.0.1:5670"
public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
[[client]]
name = "writer-1"
role = "writer"
public_key = "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
)",
                                               "f");
    const access_list plain_list = access_list::build(plain, kv_state{});
    for (const std::string& k : {key_of('A'), key_of('w'), key_of('z'), std::string()}) {
        INFO("key " << k);
        CHECK(identify(plain, plain_list, k).what == peer_identity::kind::anyone);
    }
}

TEST_CASE("access_control: what each request needs", "[security][access_control]") {
    struct row {
        message request;
        permission needed;
        const char* action;  // part of the refusal's text, or nullptr: not checked
    };
    const std::vector<row> table = {
        // read: reader and up
        {get_request{}, permission::read, nullptr},
        {status_request{}, permission::read, nullptr},
        {ping{}, permission::read, nullptr},
        {snapshot_request{}, permission::read, nullptr},
        {file_list_request{}, permission::read, nullptr},
        {fetch_request{}, permission::read, nullptr},
        {bus_fetch_request{}, permission::read, nullptr},
        // operate: writer and up
        {set_of("k", change_class::operational), permission::operate, "make operational changes"},
        {set_of("k", change_class::operational, change_op::erase), permission::operate, "make operational changes"},
        {publish_request{}, permission::operate, "publish"},
        // configure: admin
        {set_of("k", change_class::config), permission::configure, "make configuration changes"},
        {set_of("k", change_class::config, change_op::erase), permission::configure, "make configuration changes"},
        // The access list is configuration whatever class the request claims.
        {set_of("$starbus/access/x", change_class::operational), permission::configure, "change the access list"},
        {set_of("$starbus/access/x", change_class::config), permission::configure, "change the access list"},
        {set_of("$starbus/other", change_class::operational), permission::configure, nullptr},
        {set_of("$starbus/access/x", change_class::operational, change_op::erase), permission::configure, nullptr},
        {file_put_request{}, permission::configure, "put files"},
        {file_remove_request{}, permission::configure, "remove files"},
        {force_request{}, permission::configure, nullptr},
        {error_reply{}, permission::configure, nullptr},
        {file_chunk{}, permission::configure, "upload files"},
        // broker: brokers only
        {repl_hello{}, permission::broker, "replicate"},
        {repl_ack{}, permission::broker, nullptr},
        {handover_request{}, permission::broker, nullptr},
    };
    for (const auto& r : table) {
        INFO("command index " << r.request.index() << ", needs " << to_string(r.needed));
        const request_need need = needed_for(r.request);
        CHECK(need.p == r.needed);
        CHECK_FALSE(need.action.empty());
        if (r.action) CHECK(need.action == r.action);
    }
    CHECK(to_string(permission::read) == "read");
    CHECK(to_string(permission::operate) == "operate");
    CHECK(to_string(permission::configure) == "configure");
    CHECK(to_string(permission::broker) == "broker");
}

TEST_CASE("access_control: the role table, reader < writer < admin, and only brokers broker",
          "[security][access_control]") {
    struct row {
        access_role role;
        permission p;
        bool allowed;
    };
    // Each role includes the ones before it; no client role includes broker.
    const std::vector<row> table = {
        {access_role::reader, permission::read, true},       {access_role::reader, permission::operate, false},
        {access_role::reader, permission::configure, false}, {access_role::reader, permission::broker, false},
        {access_role::writer, permission::read, true},       {access_role::writer, permission::operate, true},
        {access_role::writer, permission::configure, false}, {access_role::writer, permission::broker, false},
        {access_role::admin, permission::read, true},        {access_role::admin, permission::operate, true},
        {access_role::admin, permission::configure, true},   {access_role::admin, permission::broker, false},
    };
    for (const auto& r : table) {
        const std::string name = std::string(to_string(r.role)) + "-1";
        INFO(name << " asks for " << to_string(r.p));
        const std::string why = refusal(client_as(r.role, name), {r.p, "do it"}, {}, "A");
        CHECK(why.empty() == r.allowed);
        if (!r.allowed) {
            CHECK_THAT(why, Catch::StartsWith("broker A refused key " + name + ": "));
            CHECK_THAT(why, Catch::Contains("do it"));
        }
    }
}

TEST_CASE("access_control: a refusal names the broker, the key, the role and what it may not do",
          "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "f");
    const access_list list = access_list::build(cluster, kv_state{});
    const auto refused = [&](char key, const message& m, std::string_view claimed = {}) {
        return refusal(identify(cluster, list, key_of(key)), needed_for(m), claimed, "A");
    };
    CHECK(refused('w', set_of("k", change_class::config)) ==
          "broker A refused key writer-1: role writer may not make configuration changes");
    CHECK(refused('r', publish_request{}) == "broker A refused key reader-1: role reader may not publish");
    CHECK(refused('r', set_of("k", change_class::operational)) ==
          "broker A refused key reader-1: role reader may not make operational changes");
    CHECK(refused('w', set_of("$starbus/access/writer-1", change_class::operational)) ==
          "broker A refused key writer-1: role writer may not change the access list");
    CHECK(refused('w', set_of("k", change_class::operational)).empty());
    CHECK(refused('a', set_of("$starbus/access/x", change_class::config)).empty());
    CHECK(refused('r', get_request{}).empty());

    // No client may act as a broker, not even an admin.
    const std::string as_broker = refused('a', repl_hello{});
    CHECK_THAT(as_broker, Catch::StartsWith("broker A refused key admin-1: "));
    CHECK_THAT(as_broker, Catch::Contains("replicate") && Catch::Contains("only brokers"));

    // An unknown (or revoked) key: told so, with the start of its key, and what to do.
    const std::string unknown = refused('z', get_request{});
    CHECK_THAT(unknown, Catch::StartsWith("broker A refused key zzzzzzzz"));
    CHECK_THAT(unknown, Catch::Contains("not in the access list") && Catch::Contains("starbus access grant"));
    CHECK(unknown.find(key_of('z')) == std::string::npos);  // a key prefix, not the whole key
    CHECK_FALSE(refused('z', status_request{}).empty());    // unknown keys may not even read

    // Brokers may do anything, but may not claim to be another broker.
    CHECK(refused('B', set_of("k", change_class::config)).empty());
    CHECK(refused('B', repl_hello{}, "B").empty());
    CHECK(refused('B', handover_request{}, "B").empty());
    const std::string impostor = refused('B', repl_hello{}, "A");
    CHECK_THAT(impostor,
               Catch::Contains("broker A refused key of broker B") && Catch::Contains("claims to be broker A"));
    CHECK_FALSE(refused('B', handover_request{}, "C").empty());

    // Security mode none: nothing is refused.
    peer_identity anyone;
    for (permission p : {permission::read, permission::operate, permission::configure, permission::broker})
        CHECK(refusal(anyone, {p, "x"}, "someone-else", "A").empty());
}

TEST_CASE("access_control: handshakes - brokers on every port, clients on requests and publish only",
          "[security][access_control]") {
    const cluster_config cluster = parse_cluster(curve_cluster, "f");
    state_builder s;
    s.put("$starbus/access/reader-1", "revoked").put("$starbus/access/late", grant_of(access_role::reader, 'l'));
    const access_list list = access_list::build(cluster, s.state);
    const auto judge = [&](std::string_view domain, char key) {
        return judge_handshake(cluster, list, domain, key_of(key));
    };
    for (std::string_view domain : {zap_domain_requests, zap_domain_publish, zap_domain_heartbeat}) {
        INFO(domain);
        CHECK(judge(domain, 'A').accepted);
        CHECK(judge(domain, 'B').accepted);
    }
    for (char client : {'w', 'a', 'l'}) {  // from the file, and granted later
        INFO("client key " << client);
        CHECK(judge(zap_domain_requests, client).accepted);
        CHECK(judge(zap_domain_publish, client).accepted);
        const handshake_verdict hb = judge(zap_domain_heartbeat, client);
        CHECK_FALSE(hb.accepted);
        CHECK_THAT(hb.status_text, Catch::Contains("brokers only"));
    }
    for (char stranger : {'z', 'r'}) {  // never known, and revoked
        INFO("key " << stranger);
        const handshake_verdict v = judge(zap_domain_requests, stranger);
        CHECK_FALSE(v.accepted);
        CHECK_THAT(v.status_text, Catch::Contains("not in the access list"));
        CHECK_FALSE(judge(zap_domain_publish, stranger).accepted);
        CHECK_FALSE(judge(zap_domain_heartbeat, stranger).accepted);
    }
    for (std::string_view domain : {"", "starbus.other", "global"}) {
        INFO("domain \"" << domain << "\"");
        const handshake_verdict v = judge(domain, 'w');
        CHECK_FALSE(v.accepted);
        CHECK_THAT(v.status_text, Catch::Contains("unknown ZAP domain"));
        CHECK_FALSE(judge(domain, 'z').accepted);
        CHECK_FALSE(judge(domain, 'A').accepted);  // a broker's key too: only the three ports exist
    }
}
