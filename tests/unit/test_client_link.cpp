// File: test_client_link.cpp
// The client's link table (client/src/link.hpp) cell by cell, against an
// independent copy of docs/protocol.md "Client behaviour" written here as
// expectations, and the link's timer rules driven with a fake clock: no
// sockets, no sleeps.
#include <catch2/catch.hpp>

#include <vector>

#include "link.hpp"

using namespace starbus;
using namespace starbus::client_detail;
using namespace std::chrono_literals;

namespace {

struct expected_cell {
    link_state state;
    link_event event;
    link_state next;
    std::uint32_t actions;
};

using enum link_state;
using enum link_event;
namespace act = link_action;

// Every handled cell; all others must be ignored (stay, no action).
const std::vector<expected_cell> handled_cells = {
    {idle, start, probing, act::probe},
    {probing, probe_done, connecting, act::none},
    {connecting, connect_due, confirming, act::open},
    {confirming, serving, connected, act::confirm},
    {confirming, serving_new_epoch, connected, act::confirm},
    {confirming, not_serving, reconnecting, act::leave},
    {confirming, silent, reconnecting, act::mark_silent | act::leave},
    {confirming, distrusted, reconnecting, act::leave},
    {confirming, connection_lost, reconnecting, act::mark_silent | act::leave},
    {connected, serving, connected, act::none},
    {connected, serving_new_epoch, connected, act::replay | act::confirm},
    {connected, not_serving, reconnecting, act::leave},
    {connected, silent, reconnecting, act::mark_silent | act::leave},
    {connected, distrusted, reconnecting, act::leave},
    {connected, connection_lost, reconnecting, act::mark_silent | act::leave},
    {reconnecting, connect_due, confirming, act::open},
};

const expected_cell* find_expected(link_state s, link_event e) {
    for (const auto& c : handled_cells)
        if (c.state == s && c.event == e) return &c;
    return nullptr;
}

// A fake clock: a fixed origin and an offset the test moves by hand.
struct fake_clock {
    clock::time_point origin = clock::time_point{} + std::chrono::hours(1);
    clock::time_point now = origin;
    void advance(std::chrono::milliseconds d) { now += d; }
};

}  // namespace

TEST_CASE("link table: every cell is as the protocol describes", "[client_link]") {
    for (int s = 0; s < link_state_count; ++s) {
        for (int e = 0; e < link_event_count; ++e) {
            const auto state = static_cast<link_state>(s);
            const auto event = static_cast<link_event>(e);
            INFO(to_string(state) << " x " << to_string(event));
            const link_step step = link_transition(state, event);
            CHECK_FALSE(step.why.empty());
            if (const auto* want = find_expected(state, event)) {
                CHECK(step.handled);
                CHECK(step.next == want->next);
                CHECK(step.actions == want->actions);
            } else {
                CHECK_FALSE(step.handled);
                CHECK(step.next == state);
                CHECK(step.actions == act::none);
                CHECK(step.why.substr(0, 7) == "ignored");
            }
        }
    }
}

TEST_CASE("link table: a DEALER is open exactly while confirming or connected", "[client_link]") {
    // Only states with a link can hear a broker: every cell reacting to a reply starts in one.
    for (int s = 0; s < link_state_count; ++s) {
        const auto state = static_cast<link_state>(s);
        for (auto e : {serving, serving_new_epoch, not_serving, silent, distrusted, connection_lost})
            if (link_transition(state, e).handled) CHECK(link_open(state));
    }
    CHECK_FALSE(link_open(idle));
    CHECK_FALSE(link_open(reconnecting));
    CHECK(link_open(confirming));
    CHECK(link_open(connected));
}

TEST_CASE("link table: a ping asks to be served until the broker is confirmed", "[client_link]") {
    // protocol.md PING: wants_service is set while the client has no server it can use.
    CHECK(wants_service(confirming));
    CHECK(wants_service(reconnecting));
    CHECK_FALSE(wants_service(connected));
}

TEST_CASE("link table: names of states and events", "[client_link]") {
    CHECK(to_string(idle) == "idle");
    CHECK(to_string(reconnecting) == "reconnecting");
    CHECK(to_string(serving_new_epoch) == "serving_new_epoch");
    CHECK(to_string(distrusted) == "distrusted");
    CHECK(to_string(connection_lost) == "connection_lost");
}

TEST_CASE("link table: what a pong means", "[client_link]") {
    CHECK(classify_pong(confirming, std::nullopt, broker_state::active, 260) == serving);
    CHECK(classify_pong(confirming, std::nullopt, broker_state::handover, 260) == serving);
    CHECK(classify_pong(confirming, std::nullopt, broker_state::passive, 260) == not_serving);
    CHECK(classify_pong(connected, 260, broker_state::active, 260) == serving);
    CHECK(classify_pong(connected, 260, broker_state::active, 516) == serving_new_epoch);
    CHECK(classify_pong(connected, 260, broker_state::syncing, 516) == not_serving);
    CHECK(classify_pong(connected, 260, broker_state::stalled, 260) == not_serving);
}

TEST_CASE("link walk: first contact, confirmation, failover and return", "[client_link]") {
    link_state s = idle;
    const auto step = [&](link_event e) {
        const link_step st = link_transition(s, e);
        s = st.next;
        return st.actions;
    };
    CHECK(step(connect_due) == act::none);
    CHECK(s == idle);
    CHECK(step(start) == act::probe);
    CHECK(step(start) == act::none);  // a second request does not probe again
    CHECK(step(probe_done) == act::none);
    CHECK(s == connecting);
    CHECK(step(connect_due) == act::open);
    CHECK(step(not_serving) == act::leave);  // a passive broker names the server
    CHECK(s == reconnecting);
    CHECK(step(connect_due) == act::open);
    CHECK(step(serving) == act::confirm);
    CHECK(s == connected);
    CHECK(step(serving) == act::none);
    CHECK(step(serving_new_epoch) == (act::replay | act::confirm));
    CHECK(step(silent) == (act::mark_silent | act::leave));
    CHECK(s == reconnecting);
    CHECK(step(silent) == act::none);  // nothing to hear from while closed
    CHECK(step(connect_due) == act::open);
    CHECK(step(distrusted) == act::leave);
    CHECK(s == reconnecting);
    // A crash: the kernel closed the server's connection; go at once, and skip it this pass.
    CHECK(step(connect_due) == act::open);
    CHECK(step(serving) == act::confirm);
    CHECK(step(connection_lost) == (act::mark_silent | act::leave));
    CHECK(s == reconnecting);
    CHECK(step(connection_lost) == act::none);  // nothing more to lose while closed
}

TEST_CASE("link timers: ping when idle for a ping interval, leave after an attempt of silence", "[client_link]") {
    fake_clock c;
    const link_timing k{750ms, 250ms};
    link_times t;
    t.last_rx = c.now;
    t.last_ping = c.now;
    t.last_serviced = c.now;
    c.advance(249ms);
    CHECK_FALSE(ping_due(t, k, c.now));
    CHECK_FALSE(link_silent(t, k, c.now));
    c.advance(1ms);
    CHECK(ping_due(t, k, c.now));
    t.last_ping = c.now;  // the session pinged
    CHECK_FALSE(ping_due(t, k, c.now));
    c.advance(250ms);
    CHECK(ping_due(t, k, c.now));
    c.advance(250ms);  // 750 ms since last heard: not yet more than an attempt
    CHECK_FALSE(link_silent(t, k, c.now));
    c.advance(1ms);
    CHECK(link_silent(t, k, c.now));
}

TEST_CASE("link timers: traffic defers the ping", "[client_link]") {
    fake_clock c;
    const link_timing k{750ms, 250ms};
    link_times t;
    t.last_rx = c.now;
    t.last_ping = c.now - 1s;
    c.advance(200ms);
    t.last_rx = c.now;  // any traffic counts as a heartbeat
    c.advance(100ms);
    CHECK_FALSE(ping_due(t, k, c.now));
    c.advance(150ms);
    CHECK(ping_due(t, k, c.now));
}

TEST_CASE("link timers: silence counts only while the client is serviced", "[client_link]") {
    fake_clock c;
    const link_timing k{750ms, 250ms};
    link_times t;
    t.last_rx = c.now;
    t.last_serviced = c.now;
    c.advance(250ms);
    CHECK_FALSE(back_from_absence(true, t, k, c.now));
    c.advance(5s);  // the application did not call the client for a while
    CHECK(back_from_absence(true, t, k, c.now));
    CHECK_FALSE(back_from_absence(false, t, k, c.now));  // no link: nothing to judge
    // No ping outstanding: the broker gets a fresh attempt.
    CHECK(after_absence(t, k, c.now) == absence_verdict::fresh_start);
    // A ping sent before the absence and never answered: the broker had a whole attempt.
    t.ping_unanswered_since = c.now - 800ms;
    CHECK(after_absence(t, k, c.now) == absence_verdict::silent);
    t.ping_unanswered_since = c.now - 700ms;
    CHECK(after_absence(t, k, c.now) == absence_verdict::fresh_start);
}

TEST_CASE("link timers: when the session wakes", "[client_link]") {
    fake_clock c;
    const link_timing k{750ms, 250ms};
    link_times t;
    const auto until = c.now + 10s;
    CHECK(link_wake(idle, t, k, until) == until);
    t.connect_at = c.now + 40ms;
    CHECK(link_wake(reconnecting, t, k, until) == c.now + 40ms);
    CHECK(link_wake(connecting, t, k, c.now + 10ms) == c.now + 10ms);
    t.last_rx = c.now;
    t.last_ping = c.now - 100ms;
    CHECK(link_wake(connected, t, k, until) == c.now + 250ms);  // the next ping
    t.last_ping = c.now + 600ms;
    CHECK(link_wake(confirming, t, k, until) == c.now + 751ms);  // just past an attempt of silence
}
