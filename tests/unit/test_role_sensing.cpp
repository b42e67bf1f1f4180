// File: test_role_sensing.cpp
// The role sensors (role_sensing.hpp), state by state, from a hand-built peer
// view and a fake clock: which event each situation raises (docs/protocol.md
// "Events"), and the bookkeeping that goes with it. No sockets.
#include <catch2/catch.hpp>

#include "peer_fixtures.hpp"
#include "role_sensing.hpp"

#pragma GCC diagnostic ignored "-Wrestrict"  // GCC 12's false alarm on short string literals (bug 105329)

using namespace starbus;
using namespace std::chrono_literals;

using starbus::test::hb;

namespace {

// The tests are B unless said.
const steady_time t0 = steady_time{} + 1h;  // far from zero: "since" times before t0 stay positive

role_facts facts_of(const cluster_config& c, std::uint32_t rank, broker_state s) {
    role_facts f;
    f.state = s;
    f.my_rank = rank;
    f.my_epoch = 1;
    f.started = t0 - 10s;
    f.expiry = c.expiry;
    return f;
}

// B, a replica of A (epoch 1) in state `s`, A heard at t0.
struct replica_of_a {
    cluster_config c = test::three_brokers();
    peer_view v{c, 1};
    role_facts f;

    explicit replica_of_a(broker_state s, std::uint64_t a_seq = 10) {
        REQUIRE(v.record(hb(c, 0, broker_state::active, 1, a_seq, 1), t0));
        f = facts_of(c, 1, s);
        f.followed = "A";
        f.followed_rank = 0;
        f.followed_epoch = 1;
        f.last = {1, 10};
        f.flushed_seq = 10;
    }
};

}  // namespace

// ---- starting ----

TEST_CASE("sensing: starting follows a broker that already serves", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    auto f = facts_of(c, 1, broker_state::starting);
    f.started = t0;
    CHECK(sense(v, f, t0).event == fsm_event::server_seen);
}

TEST_CASE("sensing: starting gives up listening after one expiry, not before", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    auto f = facts_of(c, 1, broker_state::starting);
    f.started = t0;
    CHECK_FALSE(sense(v, f, t0 + 299ms).event);
    CHECK(sense(v, f, t0 + 300ms).event == fsm_event::startup_expired);
    f.timing_trusted = false;  // tilted: the expiry it waited through may be its own freeze
    CHECK_FALSE(sense(v, f, t0 + 300ms).event);
}

// ---- stalled ----

TEST_CASE("sensing: stalled follows a server that appears and forgets an old refusal", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    REQUIRE(v.record(hb(c, 2, broker_state::active, 4), t0));
    auto f = facts_of(c, 1, broker_state::stalled);
    const auto r = sense(v, f, t0);
    CHECK(r.event == fsm_event::server_seen);
    CHECK(r.clear_refusal);
}

TEST_CASE("sensing: stalled does not follow again the server it refused, same epoch, before the retry",
          "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    REQUIRE(v.record(hb(c, 0, broker_state::active, 4), t0));
    auto f = facts_of(c, 1, broker_state::stalled);
    f.refused = refusal_hold{"A", 4, t0 + 60s};
    auto r = sense(v, f, t0);
    CHECK_FALSE(r.event);
    CHECK_FALSE(r.clear_refusal);
    // The retry time passed: try again.
    REQUIRE(v.record(hb(c, 0, broker_state::active, 4), t0 + 60s));
    CHECK(sense(v, f, t0 + 60s).event == fsm_event::server_seen);
    // A new epoch (it restarted and served again): follow at once.
    REQUIRE(v.record(hb(c, 0, broker_state::active, 5), t0 + 1s));
    r = sense(v, f, t0 + 1s);
    CHECK(r.event == fsm_event::server_seen);
    CHECK(r.clear_refusal);
}

TEST_CASE("sensing: stalled wins a cold start only with every broker heard and the best position", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    auto f = facts_of(c, 1, broker_state::stalled);
    f.last = {2, 50};
    REQUIRE(v.record(hb(c, 0, broker_state::stalled, 2, 40, 2), t0));
    CHECK_FALSE(sense(v, f, t0).event);  // C is not heard: it might hold more
    REQUIRE(v.record(hb(c, 2, broker_state::stalled, 2, 50, 2), t0));
    CHECK(sense(v, f, t0).event == fsm_event::cold_start_elected);  // C ties on position, B has the lower rank
    f.timing_trusted = false;
    CHECK_FALSE(sense(v, f, t0).event);
}

// ---- syncing and passive ----

TEST_CASE("sensing: a replica hearing a better server, or its server in a new epoch, resyncs", "[role_sensing]") {
    replica_of_a b(broker_state::passive);
    REQUIRE(b.v.record(hb(b.c, 2, broker_state::active, 2), t0));  // C serves in epoch 2: beats A's 1
    CHECK(sense(b.v, b.f, t0).event == fsm_event::server_seen);

    replica_of_a again(broker_state::syncing);
    REQUIRE(again.v.record(hb(again.c, 0, broker_state::active, 3), t0));  // A restarted, serves in epoch 3
    CHECK(sense(again.v, again.f, t0).event == fsm_event::server_seen);
}

TEST_CASE("sensing: a replica raises server_lost once per silence of its server", "[role_sensing]") {
    replica_of_a b(broker_state::passive);
    auto r = sense(b.v, b.f, t0 + 300ms);
    CHECK(r.event == fsm_event::server_lost);
    REQUIRE(r.server_lost_reported);
    CHECK(*r.server_lost_reported);
    b.f.server_lost_reported = true;
    CHECK_FALSE(sense(b.v, b.f, t0 + 400ms).event);
    // A is heard again: the flag is cleared, so that the next silence is reported.
    REQUIRE(b.v.record(hb(b.c, 0, broker_state::active, 1, 10, 1), t0 + 500ms));
    r = sense(b.v, b.f, t0 + 500ms);
    CHECK_FALSE(r.event);
    REQUIRE(r.server_lost_reported);
    CHECK_FALSE(*r.server_lost_reported);
}

TEST_CASE("sensing: a tilted replica neither raises server_lost nor marks it reported", "[role_sensing]") {
    replica_of_a b(broker_state::passive);
    b.f.timing_trusted = false;
    const auto r = sense(b.v, b.f, t0 + 5s);
    CHECK_FALSE(r.event);
    CHECK_FALSE(r.server_lost_reported);  // once the tilt is over, a real silence is still reported
}

TEST_CASE("sensing: a replica adopts its server's higher epoch", "[role_sensing]") {
    replica_of_a b(broker_state::passive);
    b.f.my_epoch = 0;
    auto r = sense(b.v, b.f, t0);
    REQUIRE(r.adopt_epoch);
    CHECK(*r.adopt_epoch == 1);
    b.f.my_epoch = 1;
    CHECK_FALSE(sense(b.v, b.f, t0).adopt_epoch);
}

TEST_CASE("sensing: the stuck-stream rule resyncs a passive replica after two expiries without progress",
          "[role_sensing]") {
    replica_of_a b(broker_state::passive, 20);  // A is at seq 20, B at 10
    b.f.progress = 7;
    b.f.progress_seen = 7;
    b.f.progress_since = t0;
    CHECK_FALSE(sense(b.v, b.f, t0 + 200ms).event);
    REQUIRE(b.v.record(hb(b.c, 0, broker_state::active, 1, 20, 1), t0 + 601ms));
    auto r = sense(b.v, b.f, t0 + 601ms);
    CHECK(r.event == fsm_event::sync_broken);
    CHECK(r.warning.find("stuck at 10") != std::string::npos);
    REQUIRE(r.progress);
    CHECK(r.progress->seen == 7);            // the marker stays
    CHECK(r.progress->since == t0 + 601ms);  // the clock starts over
    b.f.timing_trusted = false;
    r = sense(b.v, b.f, t0 + 601ms);
    CHECK_FALSE(r.event);
    CHECK_FALSE(r.progress);
}

TEST_CASE("sensing: progress, syncing, or a server not ahead keep the stuck-stream rule quiet", "[role_sensing]") {
    replica_of_a moving(broker_state::passive, 20);
    moving.f.progress = 8;  // moved since the last look
    moving.f.progress_seen = 7;
    moving.f.progress_since = t0 - 10s;
    auto r = sense(moving.v, moving.f, t0);
    CHECK_FALSE(r.event);
    REQUIRE(r.progress);
    CHECK(r.progress->seen == 8);
    CHECK(r.progress->since == t0);

    replica_of_a snapshot(broker_state::syncing, 20);  // a large snapshot shows no progress until its end
    snapshot.f.progress_since = t0 - 10s;
    CHECK_FALSE(sense(snapshot.v, snapshot.f, t0).event);

    replica_of_a level(broker_state::passive, 10);  // A is where B is
    level.f.progress_since = t0 - 10s;
    CHECK_FALSE(sense(level.v, level.f, t0).event);
}

// ---- active ----

TEST_CASE("sensing: a server steps down only for a claim that beats its own", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    auto f = facts_of(c, 1, broker_state::active);
    f.my_epoch = 5;
    REQUIRE(v.record(hb(c, 2, broker_state::active, 5), t0));  // same epoch, higher rank: C yields to me
    CHECK_FALSE(sense(v, f, t0).event);
    REQUIRE(v.record(hb(c, 0, broker_state::active, 5), t0));  // same epoch, lower rank: I yield
    CHECK(sense(v, f, t0).event == fsm_event::server_seen);
    f.my_epoch = 6;
    CHECK_FALSE(sense(v, f, t0).event);
    f.timing_trusted = false;  // evidence is acted on while tilted
    f.my_epoch = 4;
    CHECK(sense(v, f, t0).event == fsm_event::server_seen);
}

// ---- handover ----

namespace {

// B serves in epoch 3 and hands over to A (rank 0), heard at t0 as a passive replica.
struct handing_to_a {
    cluster_config c = test::three_brokers();
    peer_view v{c, 1};
    role_facts f;

    handing_to_a() {
        REQUIRE(v.record(hb(c, 0, broker_state::passive, 3, 10, 3), t0));
        f = facts_of(c, 1, broker_state::handover);
        f.my_epoch = 3;
        f.last = {3, 10};
        f.flushed_seq = 10;
        f.successor = "A";
        f.successor_acked = 9;
        f.handover_started = t0;
    }
};

}  // namespace

TEST_CASE("sensing: handover sends GO once the successor holds the last change, flushed", "[role_sensing]") {
    handing_to_a b;
    CHECK_FALSE(sense(b.v, b.f, t0).event);
    b.f.successor_acked = 10;
    b.f.flushed_seq = 9;  // not yet on my own disk
    CHECK_FALSE(sense(b.v, b.f, t0).event);
    b.f.flushed_seq = 10;
    CHECK(sense(b.v, b.f, t0).event == fsm_event::successor_caught_up);
    b.f.go_sent = true;  // sent: nothing more to sense until it serves
    CHECK_FALSE(sense(b.v, b.f, t0).event);
}

TEST_CASE("sensing: handover ends when the successor announces active", "[role_sensing]") {
    handing_to_a b;
    REQUIRE(b.v.record(hb(b.c, 0, broker_state::active, 4), t0 + 50ms));
    CHECK(sense(b.v, b.f, t0 + 50ms).event == fsm_event::successor_active);
}

TEST_CASE("sensing: a silent successor is handover_timeout before GO and successor_lost after it", "[role_sensing]") {
    handing_to_a b;
    CHECK(sense(b.v, b.f, t0 + 300ms).event == fsm_event::handover_timeout);
    b.f.go_sent = true;
    CHECK(sense(b.v, b.f, t0 + 300ms).event == fsm_event::successor_lost);
    b.f.timing_trusted = false;
    CHECK_FALSE(sense(b.v, b.f, t0 + 300ms).event);
}

TEST_CASE("sensing: no session, or ten expiries of handover, end it too", "[role_sensing]") {
    handing_to_a b;
    b.f.successor_acked.reset();
    CHECK(sense(b.v, b.f, t0).event == fsm_event::handover_timeout);
    handing_to_a slow;
    REQUIRE(slow.v.record(hb(slow.c, 0, broker_state::passive, 3, 10, 3), t0 + 3001ms));
    slow.f.go_sent = true;
    CHECK(sense(slow.v, slow.f, t0 + 3001ms).event == fsm_event::successor_lost);
}

// ---- the repeated messages ----

TEST_CASE("sensing: a synchronised, idle replica that outranks the live server asks for the role", "[role_sensing]") {
    auto c = test::three_brokers();
    peer_view v(c, 0);  // A, rank 0, follows B
    REQUIRE(v.record(hb(c, 1, broker_state::active, 2), t0));
    auto f = facts_of(c, 0, broker_state::passive);
    f.followed = "B";
    f.followed_rank = 1;
    f.synced_and_idle = true;
    f.next_handover_message = t0;
    CHECK(handover_due(v, f, t0));
    CHECK_FALSE(handover_due(v, f, t0 - 1ms));  // asked less than a heartbeat ago
    f.synced_and_idle = false;
    CHECK_FALSE(handover_due(v, f, t0));
    f.synced_and_idle = true;
    CHECK_FALSE(handover_due(v, f, t0 + 300ms));  // B is silent
    f.state = broker_state::syncing;
    CHECK_FALSE(handover_due(v, f, t0));
    // C, rank 2, following B, never asks.
    peer_view vc(c, 2);
    REQUIRE(vc.record(hb(c, 1, broker_state::active, 2), t0));
    auto fc = f;
    fc.state = broker_state::passive;
    fc.my_rank = 2;
    CHECK_FALSE(handover_due(vc, fc, t0));
}

TEST_CASE("sensing: HANDOVER-GO is sent again every heartbeat until the successor serves", "[role_sensing]") {
    auto c = test::three_brokers();
    auto f = facts_of(c, 1, broker_state::handover);
    f.go_sent = true;
    f.next_handover_message = t0 + 100ms;
    CHECK_FALSE(handover_go_unanswered(f, t0 + 99ms));
    CHECK(handover_go_unanswered(f, t0 + 100ms));
    f.go_sent = false;
    CHECK_FALSE(handover_go_unanswered(f, t0 + 100ms));
    f.go_sent = true;
    f.state = broker_state::active;
    CHECK_FALSE(handover_go_unanswered(f, t0 + 100ms));
}
