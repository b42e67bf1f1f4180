// File: test_bus.cpp
// The lossless bus against real brokers (README "The bus", protocol.md "The
// bus"): a subscriber receives every acknowledged message, in order and once,
// across a SIGKILL of the server and the primary's return; a new subscriber
// starts at the latest, the oldest retained or a given position; what
// retention dropped arrives as a bus_gap event, never as a silent hole; a
// retried publish is delivered once; with when_alone = "refuse" a lone server
// refuses to acknowledge.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <starbus/client/client.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

// What one subscriber saw: payloads in arrival order, and its gap events.
struct received_stream {
    std::vector<std::string> payloads;
    std::vector<starbus::bus_gap> gaps;
    std::vector<std::string> events;  // every client event, described, for a failure's message

    void attach(starbus::client& sub) {
        sub.on_event([this](const starbus::client_event& e) {
            if (const auto* g = std::get_if<starbus::bus_gap>(&e)) gaps.push_back(*g);
            events.push_back(starbus::describe(e));
        });
    }
    // Takes whatever has arrived within `wait`.
    void drain(starbus::client& sub, std::chrono::milliseconds wait) {
        for (auto m = sub.next_message(wait); m; m = sub.next_message(0ms)) payloads.push_back(m->payload);
    }
    [[nodiscard]] bool holds_all(const std::vector<std::string>& wanted) const {
        const std::set<std::string> have(payloads.begin(), payloads.end());
        for (const auto& w : wanted)
            if (!have.count(w)) return false;
        return true;
    }
};

// Payloads that sort in publish order. (Built by append: GCC 12 warns,
// wrongly, about "m" + std::to_string(...) under -Wrestrict.)
std::string numbered(int i) {
    std::string s = std::to_string(100000 + i);
    s.insert(s.begin(), 'm');
    return s;
}

}  // namespace

TEST_CASE("bus: a subscriber gets every acknowledged message once and in order across a failover and a failback",
          "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    starbus::client pub(client_options_for(c));
    starbus::client sub(client_options_for(c));
    received_stream seen;
    seen.attach(sub);
    sub.subscribe("ticks/");
    // "latest" starts where the server is when the subscription's first fetch
    // reaches it: publish until one message arrives, then everything
    // acknowledged after that one must arrive.
    std::set<std::string> sent;
    int next = 0;
    REQUIRE(wait_until([&] {
        sent.insert(numbered(next));
        REQUIRE(pub.publish("ticks/x", numbered(next++), 5s).ok());
        seen.drain(sub, 20ms);
        return !seen.payloads.empty();
    }, 10s));
    std::vector<std::string> acknowledged;
    // Publishes a batch; only what was acknowledged must arrive, the rest may.
    const auto publish_batch = [&](int n) {
        for (int k = 0; k < n; ++k, ++next) {
            sent.insert(numbered(next));
            if (pub.publish("ticks/x", numbered(next), 10s).ok()) acknowledged.push_back(numbered(next));
            seen.drain(sub, 0ms);
        }
    };
    publish_batch(200);
    c.kill(0);  // SIGKILL the server mid-stream
    publish_batch(200);
    REQUIRE_WITH_LOGS(c, pub.server() && pub.server()->name == "B");
    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    publish_batch(200);
    REQUIRE(pub.server()->name == "A");
    REQUIRE(acknowledged.size() >= 550);  // nearly all of 600: the client retries across the failover

    const bool all_arrived = wait_until([&] { seen.drain(sub, 50ms); return seen.holds_all(acknowledged); }, 20s);
    if (!all_arrived) {
        const std::set<std::string> have(seen.payloads.begin(), seen.payloads.end());
        std::string missing;
        for (const auto& a : acknowledged)
            if (!have.count(a)) missing += a + " ";
        UNSCOPED_INFO("received " << seen.payloads.size() << ", last " << seen.payloads.back() << "; missing: "
                                  << missing << "; subscriber at " << sub.bus_position().epoch << ":"
                                  << sub.bus_position().seq << " on " << (sub.server() ? sub.server()->name : "-"));
        for (const auto& e : seen.events) UNSCOPED_INFO("subscriber event: " << e);
    }
    REQUIRE_WITH_LOGS(c, all_arrived);
    CHECK(seen.gaps.empty());
    // Once each, in publish order, nothing that was never sent.
    std::vector<std::string> in_order = seen.payloads;
    std::sort(in_order.begin(), in_order.end());
    CHECK(std::adjacent_find(in_order.begin(), in_order.end()) == in_order.end());
    CHECK(in_order == seen.payloads);
    for (const auto& p : seen.payloads) CHECK(sent.count(p) == 1);
}

TEST_CASE("bus: a new subscriber starts at the latest, the oldest retained or a given position", "[integration]") {
    test_cluster c(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    starbus::client pub(client_options_for(c));
    std::vector<starbus::position> at;
    for (int i = 0; i < 10; ++i) {
        auto r = pub.publish("history/x", numbered(i), 5s);
        REQUIRE(r.ok());
        at.push_back(r.position);
    }

    SECTION("oldest: everything retained, in order") {
        starbus::client sub(client_options_for(c));
        sub.subscribe("history/", {starbus::bus_start::oldest, {}});
        received_stream seen;
        REQUIRE(wait_until([&] { seen.drain(sub, 20ms); return seen.payloads.size() >= 10; }, 10s));
        std::vector<std::string> wanted;
        for (int i = 0; i < 10; ++i) wanted.push_back(numbered(i));
        CHECK(seen.payloads == wanted);
    }
    SECTION("after a position: only what follows it, even from a fresh client") {
        starbus::client first(client_options_for(c));
        first.subscribe("history/", {starbus::bus_start::oldest, {}});
        std::optional<starbus::bus_message> fifth;
        REQUIRE(wait_until([&] {
            for (auto m = first.next_message(20ms); m; m = first.next_message(0ms))
                if (m->payload == numbered(4)) fifth = m;
            return fifth.has_value();
        }, 10s));
        CHECK(fifth->position == at[4]);
        starbus::client resumed(client_options_for(c));
        resumed.subscribe("history/", {starbus::bus_start::after, fifth->position});
        received_stream seen;
        REQUIRE(wait_until([&] { seen.drain(resumed, 20ms); return seen.payloads.size() >= 5; }, 10s));
        CHECK(seen.payloads == std::vector<std::string>{numbered(5), numbered(6), numbered(7), numbered(8), numbered(9)});
    }
    SECTION("latest: nothing from before, everything from now on") {
        starbus::client sub(client_options_for(c));
        sub.subscribe("history/");
        received_stream seen;
        // Publish until one arrives (the subscription's first fetch takes a
        // moment), then check nothing older came.
        int i = 10;
        REQUIRE(wait_until([&] {
            REQUIRE(pub.publish("history/x", numbered(i++), 5s).ok());
            seen.drain(sub, 20ms);
            return !seen.payloads.empty();
        }, 10s));
        for (const auto& p : seen.payloads) CHECK(p >= numbered(10));
    }
}

TEST_CASE("bus: messages dropped by retention before a subscriber got them arrive as a gap event", "[integration]") {
    test_cluster c(2, 50, "[bus]\nretain_messages = 5\n");
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    starbus::client pub(client_options_for(c));
    std::vector<starbus::position> at;
    for (int i = 0; i < 20; ++i) {
        auto r = pub.publish("old/x", numbered(i), 5s);
        REQUIRE(r.ok());
        at.push_back(r.position);
    }
    starbus::client late(client_options_for(c));
    received_stream seen;
    seen.attach(late);
    late.subscribe("old/", {starbus::bus_start::after, at[1]});  // messages 2..14 are no longer retained
    REQUIRE(wait_until([&] { seen.drain(late, 20ms); return seen.payloads.size() >= 5; }, 10s));
    CHECK(seen.payloads == std::vector<std::string>{numbered(15), numbered(16), numbered(17), numbered(18), numbered(19)});
    REQUIRE(seen.gaps.size() == 1);
    CHECK(seen.gaps[0].from_seq == at[2].seq);
    CHECK(seen.gaps[0].through_seq >= at[14].seq);
    CHECK(seen.gaps[0].through_seq < at[15].seq);
}

TEST_CASE("bus: a publish retried with the same request id is delivered once", "[integration]") {
    test_cluster c(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    zmq::context_t ctx;
    zmq::socket_t to_a(ctx, zmq::socket_type::dealer);
    to_a.set(zmq::sockopt::linger, 0);
    to_a.connect(starbus::load_cluster_file(c.cluster_file()).find("A")->request_endpoint());
    const starbus::publish_request once{501, 0xBEEF, "retried/x", "only-once"};
    std::vector<starbus::position> acked;
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto reply = starbus::test::ask(to_a, starbus::encode(once));
        REQUIRE(reply);
        const auto* ack = std::get_if<starbus::ack_reply>(&*reply);
        REQUIRE(ack);
        acked.push_back({ack->epoch, ack->seq});
    }
    CHECK(acked[0].seq > 0);
    CHECK(acked[1] == acked[0]);  // the recorded position, not a second message
    CHECK(acked[2] == acked[0]);
    starbus::client pub(client_options_for(c));
    REQUIRE(pub.publish("retried/x", "marker", 5s).ok());
    starbus::client sub(client_options_for(c));
    sub.subscribe("retried/", {starbus::bus_start::oldest, {}});
    received_stream seen;
    REQUIRE(wait_until([&] { seen.drain(sub, 20ms); return seen.holds_all({"marker"}); }, 10s));
    CHECK(seen.payloads == std::vector<std::string>{"only-once", "marker"});
}

TEST_CASE("bus: with when_alone = \"refuse\" a server without a live replica does not acknowledge", "[integration]") {
    test_cluster c(2, 50, "when_alone = \"refuse\"\n");
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    starbus::client pub(client_options_for(c));
    REQUIRE(pub.publish("alone/x", "replicated", 5s).ok());
    c.kill(1);
    // Once A has noticed B is gone, writes are not acknowledged: the client
    // keeps retrying (RETRY_LATER) until its deadline.
    REQUIRE_WITH_LOGS(c, wait_until([&] { return !pub.publish("alone/x", "unreplicated", 300ms).ok(); }, 10s));
    auto r = pub.set("alone.key", "v", starbus::change_class::operational, 500ms);
    CHECK_FALSE(r.ok());
    c.start(1);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 30s));
    CHECK(pub.publish("alone/x", "back", 5s).ok());
    CHECK(pub.set("alone.key", "v", starbus::change_class::operational, 5s).ok());
}

TEST_CASE("bus: starbus sub --from oldest and --from EPOCH:SEQ replay what is retained", "[integration]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 20s));
    for (const char* m : {"one", "two", "three"}) REQUIRE(c.cli({"pub", "cli/x", m}).exit_code == 0);
    auto all = c.cli({"sub", "cli/", "--from", "oldest", "--count", "3", "--positions"}, 10000);
    REQUIRE(all.exit_code == 0);
    std::istringstream lines(all.out);
    std::vector<std::string> positions, texts;
    for (std::string at, topic, text; lines >> at >> topic >> text;) {
        positions.push_back(at);
        texts.push_back(topic + " " + text);
    }
    REQUIRE(texts == std::vector<std::string>{"cli/x one", "cli/x two", "cli/x three"});
    auto rest = c.cli({"sub", "cli/", "--from", positions[0], "--count", "2"}, 10000);
    REQUIRE(rest.exit_code == 0);
    CHECK(rest.out == "cli/x two\ncli/x three\n");
    CHECK(c.cli({"sub", "cli/", "--from", "yesterday"}).exit_code == 2);
}
