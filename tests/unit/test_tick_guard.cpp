// File: test_tick_guard.cpp
// TILT (tick_guard.hpp): a gap between reactor turns longer than half an
// expiry is a freeze; timing is not trusted again until every peer heard
// before it is heard again, or one expiry after the wake. Fake clock only.
#include <catch2/catch.hpp>

#include "peer_fixtures.hpp"
#include "tick_guard.hpp"

#pragma GCC diagnostic ignored "-Wrestrict"  // GCC 12's false alarm on short string literals (bug 105329)

using namespace starbus;
using namespace std::chrono_literals;

namespace {

heartbeat hb(const cluster_config& c, std::uint32_t rank, broker_state s) {
    heartbeat h;
    h.name = c.brokers[rank].name;
    h.rank = rank;
    h.state = s;
    h.epoch = 1;
    return h;
}

// Turns every `step` from `from` up to `to`, recording nothing; returns the last turn's outcome kinds seen.
void turn_until(tick_guard& g, const peer_view& v, steady_time from, steady_time to, std::chrono::milliseconds step) {
    for (steady_time t = from; t <= to; t += step) {
        const auto turn = g.observe(t, v);
        REQUIRE(turn.what != tick_guard::change::entered);
    }
}

}  // namespace

TEST_CASE("tick guard: regular turns never tilt", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    turn_until(g, v, t0, t0 + 10s, 25ms);
    CHECK(g.trusts_timing());
    // A gap of exactly half an expiry is still a turn, not a freeze.
    CHECK(g.observe(t0 + 10s + 150ms, v).what == tick_guard::change::none);
    CHECK(g.trusts_timing());
}

TEST_CASE("tick guard: the threshold is half an expiry", "[tick_guard]") {
    CHECK(tick_guard(300ms).freeze_threshold() == 150ms);
    CHECK(tick_guard(3000ms).freeze_threshold() == 1500ms);
}

TEST_CASE("tick guard: a long gap tilts, and reports the gap", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    CHECK(g.observe(t0, v).what == tick_guard::change::none);  // the first turn only sets the clock
    const auto t = g.observe(t0 + 1500ms, v);                  // SIGSTOP for five expiries
    CHECK(t.what == tick_guard::change::entered);
    CHECK(t.gap == 1500ms);
    CHECK_FALSE(g.trusts_timing());
    CHECK(g.woke_at() == t0 + 1500ms);
}

TEST_CASE("tick guard: the tilt ends once every peer heard before the freeze is heard again", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    REQUIRE(v.record(hb(c, 2, broker_state::passive), t0));
    (void)g.observe(t0 + 10ms, v);
    const steady_time wake = t0 + 1510ms;
    REQUIRE(g.observe(wake, v).what == tick_guard::change::entered);
    // A is heard; C is not yet: still tilted.
    REQUIRE(v.record(hb(c, 0, broker_state::active), wake + 5ms));
    CHECK(g.observe(wake + 10ms, v).what == tick_guard::change::none);
    CHECK_FALSE(g.trusts_timing());
    REQUIRE(v.record(hb(c, 2, broker_state::passive), wake + 15ms));
    const auto t = g.observe(wake + 20ms, v);
    CHECK(t.what == tick_guard::change::left);
    CHECK(t.all_heard);
    CHECK(t.unheard.empty());
    CHECK(g.trusts_timing());
}

TEST_CASE("tick guard: an unheard peer holds the tilt for one expiry after the wake, no longer", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));  // A, heard before the freeze, then dies
    (void)g.observe(t0 + 10ms, v);
    const steady_time wake = t0 + 2s;
    REQUIRE(g.observe(wake, v).what == tick_guard::change::entered);
    turn_until(g, v, wake + 25ms, wake + 275ms, 25ms);
    CHECK_FALSE(g.trusts_timing());
    const auto t = g.observe(wake + 300ms, v);
    CHECK(t.what == tick_guard::change::left);
    CHECK_FALSE(t.all_heard);
    REQUIRE(t.unheard.size() == 1);
    CHECK(t.unheard.front() == 0);
    CHECK(g.trusts_timing());
}

TEST_CASE("tick guard: a peer already silent before the freeze is not waited for", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    REQUIRE(v.record(hb(c, 2, broker_state::passive), t0));  // C, silent from t0 + 300 ms on
    (void)g.observe(t0 + 400ms, v);
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0 + 400ms));
    const steady_time wake = t0 + 2s;
    REQUIRE(g.observe(wake, v).what == tick_guard::change::entered);
    REQUIRE(v.record(hb(c, 0, broker_state::active), wake + 1ms));
    CHECK(g.observe(wake + 2ms, v).what == tick_guard::change::left);  // A is enough: C did not count
}

TEST_CASE("tick guard: with nobody heard before the freeze, only the expiry ends the tilt", "[tick_guard]") {
    // A starting broker frozen before it heard anybody must still listen one expiry after it wakes.
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    (void)g.observe(t0, v);
    const steady_time wake = t0 + 5s;
    REQUIRE(g.observe(wake, v).what == tick_guard::change::entered);
    REQUIRE(v.record(hb(c, 2, broker_state::starting), wake + 1ms));  // heard, but it did not count
    turn_until(g, v, wake + 10ms, wake + 290ms, 10ms);
    CHECK_FALSE(g.trusts_timing());
    CHECK(g.observe(wake + 300ms, v).what == tick_guard::change::left);
}

TEST_CASE("tick guard: a second freeze while tilted starts the tilt over", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    tick_guard g(c.expiry);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    (void)g.observe(t0, v);
    REQUIRE(g.observe(t0 + 1s, v).what == tick_guard::change::entered);
    const auto again = g.observe(t0 + 3s, v);
    CHECK(again.what == tick_guard::change::entered);
    CHECK(again.gap == 2s);
    CHECK(g.woke_at() == t0 + 3s);
    // One expiry from the second wake, not the first.
    CHECK(g.observe(t0 + 3s + 100ms, v).what == tick_guard::change::none);
    CHECK_FALSE(g.trusts_timing());
}

TEST_CASE("tick guard: shifting last-heard times by the gap keeps a peer heard before it alive", "[tick_guard]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    const steady_time t0{};
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    const steady_time wake = t0 + 2s;
    REQUIRE_FALSE(v.alive(0u, wake));         // what a frozen broker would conclude on waking
    v.shift_heard_times(wake - (t0 + 50ms));  // it last turned 50 ms after A's heartbeat
    CHECK(v.alive(0u, wake));
    CHECK(v.alive(0u, wake + 249ms));        // the rest of A's expiry, counted on time it ran
    CHECK_FALSE(v.alive(0u, wake + 250ms));  // then A is silent, if it still says nothing
    CHECK_FALSE(v.alive(2u, wake));          // a peer never heard stays unheard
    CHECK(v.heard_count(0) == 1);
    CHECK(v.heard_count(2) == 0);
}

TEST_CASE("tick guard: the events that rest on timing", "[tick_guard]") {
    for (auto e : {fsm_event::startup_expired, fsm_event::server_lost, fsm_event::successor_lost,
                   fsm_event::handover_timeout, fsm_event::vote, fsm_event::cold_start_elected}) {
        INFO(to_string(e));
        CHECK(rests_on_timing(e));
    }
    // Evidence: something was received, whatever the clock did.
    for (auto e :
         {fsm_event::server_seen, fsm_event::sync_complete, fsm_event::sync_broken, fsm_event::handover_requested,
          fsm_event::successor_caught_up, fsm_event::successor_active, fsm_event::handover_go, fsm_event::force,
          fsm_event::change_refused, fsm_event::nobody_to_follow, fsm_event::handover_due, fsm_event::go_unanswered}) {
        INFO(to_string(e));
        CHECK_FALSE(rests_on_timing(e));
    }
}
