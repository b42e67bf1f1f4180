// File: test_security.cpp
// CURVE clusters against real brokers on loopback (docs/security.md): the
// roles decide what each key may do, an unknown or missing key is told at
// once (exit 6), the access list changes on open connections too, and every
// hostile probe that once worked without authentication (a forged replica
// session and its acknowledgements, a forged heartbeat at a high epoch from a
// squatted endpoint, a forged HANDOVER, a forged FORCE) is refused. Failover,
// failback and a broker's key rotation keep every acknowledged change.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <starbus/client/client.hpp>
#include <starbus/security/curve_sockets.hpp>
#include <starbus/wire/codec.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::endpoint_of_rank;
using starbus::test::port_plus;
using starbus::test::run_result;
using starbus::test::test_cluster;
using starbus::test::test_security;
using starbus::test::wait_until;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

test_cluster curve_cluster(std::size_t brokers, const std::string& extra = {}) {
    return test_cluster(brokers, 50, extra, test_security::curve);
}

// A DEALER to broker `rank`'s request port, as a CURVE client holding `who`'s key.
zmq::socket_t curve_dealer(zmq::context_t& ctx, const test_cluster& c, const std::string& who, int rank) {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    starbus::make_curve_client(s, c.key(who), c.key(c.names()[static_cast<std::size_t>(rank)]).public_key);
    s.connect(endpoint_of_rank(c.cluster_file(), rank));
    return s;
}

std::chrono::milliseconds took(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since);
}

}  // namespace

TEST_CASE("security: each role may do what it is given, and a refusal says who refused what", "[integration]") {
    test_cluster c = curve_cluster(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));

    // writer: operational changes and publications.
    REQUIRE(c.cli_as("writer", {"set", "k", "v1"}).exit_code == 0);
    REQUIRE(c.cli_as("writer", {"pub", "t", "m"}).exit_code == 0);
    run_result r = c.cli_as("writer", {"set", "--config", "cfg", "v"});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "broker A refused key writer: role writer may not make configuration changes"));
    CHECK(c.cli_as("writer", {"force", "B"}).exit_code == 6);
    CHECK(c.cli_as("writer", {"access", "grant", "x", "reader", c.pub_file("stranger")}).exit_code == 6);

    // reader: looking only.
    r = c.cli_as("reader", {"get", "k"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "v1\n");
    CHECK(c.cli_as("reader", {"status"}).exit_code == 0);
    CHECK(c.cli_as("reader", {"dump"}).exit_code == 0);
    r = c.cli_as("reader", {"set", "k", "v2"});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "role reader may not make operational changes"));
    r = c.cli_as("reader", {"pub", "t", "m"});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "role reader may not publish"));
    CHECK(c.cli_as("reader", {"del", "k"}).exit_code == 6);

    // admin: configuration too. A key under "$starbus/" that is not an access entry is refused for everyone.
    CHECK(c.cli_as("admin", {"set", "--config", "cfg", "v"}).exit_code == 0);
    CHECK(c.cli_as("admin", {"set", "--config", "$starbus/other", "v"}).exit_code == 2);
    CHECK(c.cli_as("writer", {"set", "--config", "$starbus/access/me", "admin " + c.key("writer").public_key})
              .exit_code == 6);
    CHECK(c.cli_as("admin", {"set", "$starbus/access/me", "admin " + c.key("writer").public_key}).exit_code == 2);

    // One key, one name: else revoking one name would leave the key acting under the other.
    r = c.cli({"access", "grant", "alias", "admin", c.pub_file("writer")});
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, "already client writer's"));
    CHECK(c.cli({"access", "grant", "alias", "admin", c.pub_file("B")}).exit_code == 2);

    // Nothing refused was applied.
    auto state = c.dump();
    REQUIRE(state.has_value());
    CHECK(state->at("k") == "v1");
    CHECK(state->count("$starbus/access/me") == 0);
    CHECK(state->count("$starbus/access/x") == 0);
    CHECK(contains(c.log_of(0), "security: broker A refused key writer"));
}

TEST_CASE("security: an unknown key is told at once, a missing key fails before anything is sent", "[integration]") {
    test_cluster c = curve_cluster(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));

    for (const auto& args :
         std::vector<std::vector<std::string>>{{"status"}, {"get", "k"}, {"set", "k", "v"}, {"sub", "t"}, {"dump"}}) {
        const auto start = std::chrono::steady_clock::now();
        const run_result r = c.cli_as("stranger", args, 10000);
        INFO(args.front() << ": " << r.err);
        CHECK(r.exit_code == 6);
        CHECK(contains(r.err, "refused this client's key"));
        CHECK(took(start) < 4s);  // told by the handshake, never left to the 10 s time-out
    }
    const auto start = std::chrono::steady_clock::now();
    const run_result r = c.cli_as("", {"get", "k"}, 10000);
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "a key is needed"));
    CHECK(took(start) < 2s);

    // A plaintext peer gets nothing at all, not even STATUS.
    zmq::context_t ctx;
    zmq::socket_t plain = starbus::test::raw_dealer(ctx, endpoint_of_rank(c.cluster_file(), 0));
    plain.send(zmq::buffer(starbus::encode(starbus::status_request{1})));
    zmq::pollitem_t item{plain.handle(), 0, ZMQ_POLLIN, 0};
    CHECK(zmq::poll(&item, 1, 1000ms) == 0);
    CHECK(contains(c.log_of(0), "security: refused a CURVE handshake"));
}

TEST_CASE("security: a grant or a revocation applies to the next request of a connection already open",
          "[integration]") {
    test_cluster c = curve_cluster(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));

    starbus::client writer(client_options_for(c, "writer"));
    REQUIRE(writer.set("w", "1", starbus::change_class::operational, 5s).ok());

    REQUIRE(c.cli({"access", "revoke", "writer"}).exit_code == 0);
    starbus::result r = writer.set("w", "2", starbus::change_class::operational, 5s);
    CHECK(r.status == starbus::result_status::not_authorised);
    CHECK(contains(r.message, "not in the access list"));

    REQUIRE(c.cli({"access", "grant", "writer", "writer", c.pub_file("writer")}).exit_code == 0);
    CHECK(writer.set("w", "3", starbus::change_class::operational, 5s).ok());

    // A key granted a lower role loses what the higher one allowed, on the same connection.
    REQUIRE(c.cli({"access", "grant", "writer", "reader", c.pub_file("writer")}).exit_code == 0);
    r = writer.set("w", "4", starbus::change_class::operational, 5s);
    CHECK(r.status == starbus::result_status::not_authorised);
    CHECK(contains(r.message, "role reader may not make operational changes"));

    // A new client, granted while the brokers run.
    c.make_key("newcomer");
    CHECK(c.cli_as("newcomer", {"get", "w"}).exit_code == 6);
    REQUIRE(c.cli({"access", "grant", "newcomer", "writer", c.pub_file("newcomer")}).exit_code == 0);
    CHECK(c.cli_as("newcomer", {"set", "n", "1"}).exit_code == 0);

    // The list as `access ls` shows it, merged with the cluster file's [[client]] tables.
    run_result ls = c.cli({"access", "ls"});
    REQUIRE(ls.exit_code == 0);
    CHECK(contains(ls.out, "newcomer\twriter\t" + c.key("newcomer").public_key + "\tgranted\n"));
    CHECK(contains(ls.out, "writer\treader\t"));
    CHECK(contains(ls.out, "admin\tadmin\t" + c.key("admin").public_key + "\tfile\n"));
    CHECK(c.cli({"access", "revoke", "nobody"}).exit_code == 4);

    // Replicated configuration: it survives the server's crash, and only the primary changes it.
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    CHECK(c.cli_as("newcomer", {"set", "n", "2"}).exit_code == 0);
    CHECK(c.cli_as("writer", {"set", "w", "5"}).exit_code == 6);
    run_result refused = c.cli({"access", "revoke", "newcomer"});
    CHECK(refused.exit_code == 3);
    CHECK(contains(refused.err, "primary A"));
}

TEST_CASE("security: a revoked subscriber's open connection to the publish port is cut", "[integration]") {
    test_cluster c = curve_cluster(1, "[bus]\nretain_messages = 0\n");
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 20s));

    starbus::client sub(client_options_for(c, "reader"));
    sub.subscribe("news");
    REQUIRE(sub.wait_subscribed(10s));
    REQUIRE(c.cli_as("writer", {"pub", "news", "before"}).exit_code == 0);
    bool got_before = false;
    REQUIRE(wait_until(
        [&] {
            if (auto m = sub.next_message(50ms)) got_before = got_before || m->payload == "before";
            return got_before;
        },
        10s));

    REQUIRE(c.cli({"access", "revoke", "reader"}).exit_code == 0);
    REQUIRE(wait_until([&] { return contains(c.log_of(0), "reopened the publish port"); }, 5s));
    for (int i = 0; i < 5; ++i) REQUIRE(c.cli_as("writer", {"pub", "news", "after"}).exit_code == 0);
    // The writer's messages reach a subscriber still in the list, but not the revoked one.
    starbus::client admin_sub(client_options_for(c, "admin"));
    admin_sub.subscribe("news");
    REQUIRE(admin_sub.wait_subscribed(10s));
    REQUIRE(c.cli_as("writer", {"pub", "news", "after"}).exit_code == 0);
    bool admin_got = false;
    REQUIRE(wait_until(
        [&] {
            if (auto m = admin_sub.next_message(50ms)) admin_got = admin_got || m->payload == "after";
            return admin_got;
        },
        10s));
    int revoked_got = 0;
    const auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until)
        if (auto m = sub.next_message(50ms); m && m->payload == "after") ++revoked_got;
    CHECK(revoked_got == 0);

    // Granted again: the client opens a new SUB (libzmq never retries a refused handshake) and hears again.
    REQUIRE(c.cli({"access", "grant", "reader", "reader", c.pub_file("reader")}).exit_code == 0);
    bool heard_again = false;
    REQUIRE(wait_until(
        [&] {
            (void)c.cli_as("writer", {"pub", "news", "again"});
            while (auto m = sub.next_message(50ms)) heard_again = heard_again || m->payload == "again";
            return heard_again;
        },
        15s));
}

TEST_CASE("security: a client's key cannot open a replica session, acknowledge, hand over or force",
          "[integration]") {
    test_cluster c = curve_cluster(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    for (int i = 0; i < 20; ++i) REQUIRE(c.cli({"set", "acked." + std::to_string(i), "v"}).exit_code == 0);

    zmq::context_t ctx;
    zmq::socket_t admin = curve_dealer(ctx, c, "admin", 0);
    starbus::repl_hello hello;
    hello.name = "B";
    hello.rank = 1;
    hello.session = 77;
    auto answer = starbus::test::ask(admin, starbus::encode(hello));
    CHECK(starbus::test::error_of(answer) == starbus::error_code::not_authorised);
    answer = starbus::test::ask(admin, starbus::encode(starbus::repl_ack{1000000}));
    CHECK(starbus::test::error_of(answer) == starbus::error_code::not_authorised);
    starbus::handover_request handover{"B", 1, 1000000};
    answer = starbus::test::ask(admin, starbus::encode(handover));
    CHECK(starbus::test::error_of(answer) == starbus::error_code::not_authorised);
    zmq::socket_t writer = curve_dealer(ctx, c, "writer", 1);
    answer = starbus::test::ask(writer, starbus::encode(starbus::force_request{5}));
    CHECK(starbus::test::error_of(answer) == starbus::error_code::not_authorised);

    // A broker's key claiming to be another broker is refused too.
    zmq::socket_t as_b = curve_dealer(ctx, c, "B", 0);
    starbus::repl_hello posing = hello;
    posing.name = "C";
    posing.rank = 2;
    answer = starbus::test::ask(as_b, starbus::encode(posing));
    CHECK(starbus::test::error_of(answer) == starbus::error_code::not_authorised);

    // A still serves, B still replicates it, and every acknowledged change survives A's crash.
    CHECK(c.roles() == std::map<std::string, std::string>{{"A", "active"}, {"B", "passive"}});
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    auto keys = c.dump();
    REQUIRE(keys.has_value());
    for (int i = 0; i < 20; ++i) CHECK(keys->count("acked." + std::to_string(i)) == 1);
}

TEST_CASE("security: a squatter at a stopped broker's address cannot pass for it", "[integration]") {
    test_cluster c = curve_cluster(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    for (int i = 0; i < 50; ++i) REQUIRE(c.cli({"set", "acked." + std::to_string(i), "v"}).exit_code == 0);
    REQUIRE(c.stop(2) == 0);

    // The squatter binds C's request and heartbeat ports as a CURVE server with a key of its own (it lacks
    // C's secret) and claims, every 50 ms, to serve at a far higher epoch with one key of data.
    zmq::context_t ctx;
    const starbus::curve_key_pair own = starbus::generate_curve_key_pair();
    zmq::socket_t router(ctx, zmq::socket_type::router), beacon(ctx, zmq::socket_type::pub);
    for (zmq::socket_t* s : {&router, &beacon}) {
        s->set(zmq::sockopt::linger, 0);
        starbus::make_curve_server(*s, own, starbus::zap_domain_requests);
    }
    const std::string endpoint = endpoint_of_rank(c.cluster_file(), 2);
    router.bind(endpoint);
    beacon.bind(port_plus(endpoint, 2));
    int hellos = 0;
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < until) {
        starbus::heartbeat hb{"C", 2, starbus::broker_state::active, 1000 * starbus::epoch_stride + 2, 1, 0, "", 0};
        beacon.send(zmq::buffer(starbus::encode(hb)));
        zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, 50ms);
        zmq::message_t id, body;
        while (router.recv(id, zmq::recv_flags::dontwait))
            if (id.more() && router.recv(body, zmq::recv_flags::dontwait)) ++hellos;
    }
    CHECK(hellos == 0);  // no broker and no client completed a handshake with it

    const auto roles = c.roles();
    CHECK(roles.at("A") == "active");
    CHECK(roles.at("B") == "passive");
    auto keys = c.dump();
    REQUIRE(keys.has_value());
    for (int i = 0; i < 50; ++i) CHECK(keys->count("acked." + std::to_string(i)) == 1);
    auto on_b = c.dump("B");
    REQUIRE(on_b.has_value());
    CHECK(on_b->size() == keys->size());
}

TEST_CASE("security: a CURVE cluster fails over on SIGKILL and back, and a broker's key is rotated one broker at "
          "a time",
          "[integration]") {
    test_cluster c = curve_cluster(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    int written = 0;
    const auto write = [&](int n) {
        for (int i = 0; i < n; ++i, ++written)
            REQUIRE(c.cli_as("writer", {"set", "k." + std::to_string(written), "v"}).exit_code == 0);
    };
    write(10);

    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    write(10);
    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    write(10);

    // Rotation of B's key: a new key in every cluster file, then each broker restarted in turn, B first.
    c.make_key("B");
    c.write_cluster_file();
    REQUIRE(c.stop(1) == 0);
    c.start(1);
    write(10);  // A serves throughout; C acknowledges while B cannot follow the A that expects its old key
    REQUIRE(c.stop(2) == 0);
    c.start(2);
    REQUIRE_WITH_LOGS(c, c.wait_role("C", "passive", 20s, false));
    write(10);
    REQUIRE(c.stop(0) == 0);
    REQUIRE_WITH_LOGS(c, wait_until([&] {
                          (void)c.cli({"set", "harness.probe", "x"}, 500);  // a client's vote
                          const auto r = c.roles();
                          return r.count("B") && (r.at("B") == "active" || (r.count("C") && r.at("C") == "active"));
                      }, 20s));
    write(10);
    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    write(10);

    for (const std::string from : {"A", "B", "C"}) {
        auto keys = c.dump(from);
        REQUIRE(keys.has_value());
        for (int i = 0; i < written; ++i) CHECK(keys->count("k." + std::to_string(i)) == 1);
    }
}

TEST_CASE("security: a client's key is rotated with no restart: grant the new key, move, revoke the old",
          "[integration]") {
    test_cluster c = curve_cluster(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));

    starbus::client old_key(client_options_for(c, "writer"));
    REQUIRE(old_key.set("app", "1", starbus::change_class::operational, 5s).ok());

    // The new key works beside the old one: the application moves at its own pace.
    c.make_key("writer-2");
    REQUIRE(c.cli({"access", "grant", "writer-2", "writer", c.pub_file("writer-2")}).exit_code == 0);
    starbus::client new_key(client_options_for(c, "writer-2"));
    CHECK(new_key.set("app", "2", starbus::change_class::operational, 5s).ok());
    CHECK(old_key.set("app", "3", starbus::change_class::operational, 5s).ok());

    // Once moved, the old key goes: its open connection is refused, the new one goes on, and so it stays
    // after a failover.
    REQUIRE(c.cli({"access", "revoke", "writer"}).exit_code == 0);
    CHECK(old_key.set("app", "4", starbus::change_class::operational, 5s).status ==
          starbus::result_status::not_authorised);
    CHECK(new_key.set("app", "5", starbus::change_class::operational, 5s).ok());
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    CHECK(new_key.set("app", "6", starbus::change_class::operational, 10s).ok());
    CHECK(c.cli_as("writer", {"set", "app", "7"}).exit_code == 6);
    auto state = c.dump();
    REQUIRE(state.has_value());
    CHECK(state->at("app") == "6");
}
