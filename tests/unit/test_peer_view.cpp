// File: test_peer_view.cpp
// The sensors' questions, answered from heartbeats alone: liveness by expiry,
// who serves, the takeover rule and the cold-start rule (protocol.md "Split
// brain prevention").
#include <catch2/catch.hpp>

#include "peer_fixtures.hpp"
#include "peer_view.hpp"

// GCC 12 warns falsely about assigning short literals to std::string here (-Wrestrict, GCC bug 105329).
#pragma GCC diagnostic ignored "-Wrestrict"

using namespace starbus;
using namespace std::chrono_literals;

using starbus::test::hb;

namespace {

}  // namespace

TEST_CASE("peer_view: a peer is alive until one expiry after its last heartbeat", "[peer_view]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    const steady_time t0{};
    REQUIRE_FALSE(v.alive(0u, t0));
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    REQUIRE(v.alive(0u, t0 + 299ms));
    REQUIRE_FALSE(v.alive(0u, t0 + 300ms));
    REQUIRE(v.alive("A", t0 + 10ms));
}

TEST_CASE("peer_view: a lost connection makes a peer dead at once, until it is heard again", "[peer_view]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    const steady_time t0{};
    v.connection_lost(0, t0);  // never heard: nothing to lose
    REQUIRE_FALSE(v.lost(0));
    REQUIRE(v.record(hb(c, 0, broker_state::active), t0));
    REQUIRE(v.record(hb(c, 2, broker_state::passive), t0));
    REQUIRE(v.best_server(t0 + 10ms)->name == "A");
    REQUIRE_FALSE(v.may_take_over(t0 + 10ms));
    // The server's process died: its connection closed 10 ms after its last heartbeat, far inside the expiry.
    v.connection_lost(0, t0 + 10ms);
    REQUIRE(v.lost(0));
    REQUIRE_FALSE(v.alive(0u, t0 + 10ms));
    REQUIRE(v.best_server(t0 + 10ms) == nullptr);
    REQUIRE(v.may_take_over(t0 + 10ms));  // the split-brain rules still apply: C is of higher rank
    REQUIRE(v.silent_peers(t0 + 10ms) == std::vector<std::string>{"A"});
    REQUIRE(v.alive(2u, t0 + 10ms));  // only the peer whose connection closed
    // A loss recorded in the same turn as the last heartbeat (one `now`) counts: it came after it.
    v.record(hb(c, 2, broker_state::passive), t0 + 20ms);
    v.connection_lost(2, t0 + 20ms);
    REQUIRE_FALSE(v.alive(2u, t0 + 20ms));
    // Restarted: its first heartbeat on the new connection makes it alive again.
    REQUIRE(v.record(hb(c, 0, broker_state::starting), t0 + 200ms));
    REQUIRE_FALSE(v.lost(0));
    REQUIRE(v.alive(0u, t0 + 200ms));
    // A freeze shifts the loss with the heartbeat it followed: still lost.
    v.connection_lost(0, t0 + 250ms);
    v.shift_heard_times(5s);
    REQUIRE(v.lost(0));
    REQUIRE_FALSE(v.alive(0u, t0 + 5s + 260ms));
}

TEST_CASE("peer_view: heartbeats from unknown names, wrong ranks or myself are refused", "[peer_view]") {
    auto c = test::three_brokers();
    peer_view v(c, 1);
    auto h = hb(c, 0, broker_state::active);
    h.name = "Z";
    REQUIRE_FALSE(v.record(h, {}));
    REQUIRE_FALSE(v.record(hb(c, 1, broker_state::active), {}));  // myself
    h = hb(c, 0, broker_state::active);
    h.rank = 7;
    REQUIRE_FALSE(v.record(h, {}));
}

TEST_CASE("peer_view: the server is the live active peer of highest epoch, then lowest rank", "[peer_view]") {
    auto c = test::three_brokers();
    peer_view v(c, 2);
    const steady_time t0{};
    REQUIRE(v.best_server(t0) == nullptr);
    v.record(hb(c, 0, broker_state::active, 3), t0);
    v.record(hb(c, 1, broker_state::active, 4), t0);
    REQUIRE(v.best_server(t0)->name == "B");
    v.record(hb(c, 1, broker_state::passive, 4), t0);
    REQUIRE(v.best_server(t0)->name == "A");
    REQUIRE(v.best_server(t0 + 1s) == nullptr);  // expired
    REQUIRE(v.max_epoch() == 4);
}

TEST_CASE("peer_view: a backup may take over only when every lower rank is silent or unsynchronised",
          "[peer_view]") {
    auto c = test::three_brokers();
    peer_view v(c, 2);
    const steady_time t0{};
    REQUIRE(v.may_take_over(t0));  // nobody heard at all
    v.record(hb(c, 1, broker_state::passive), t0);
    REQUIRE_FALSE(v.may_take_over(t0));  // B is synchronised and alive: B's turn
    v.record(hb(c, 1, broker_state::syncing), t0);
    REQUIRE(v.may_take_over(t0));  // B is still catching up: it never serves ahead of me
    v.record(hb(c, 0, broker_state::active), t0);
    REQUIRE_FALSE(v.may_take_over(t0));  // somebody serves
    REQUIRE(v.may_take_over(t0 + 1s));   // ...until it falls silent
}

TEST_CASE("peer_view: cold start needs every broker heard, unless the whole cluster is fresh", "[peer_view]") {
    auto c = test::three_brokers();
    const steady_time t0{};
    SECTION("brokers with data: all must be heard, the best position serves") {
        peer_view a(c, 0);
        a.record(hb(c, 1, broker_state::stalled, 2, 10, 2), t0);
        REQUIRE_FALSE(a.cold_start_choice({2, 10}, t0));  // C unheard: it may hold more
        a.record(hb(c, 2, broker_state::stalled, 2, 9, 2), t0);
        REQUIRE(a.cold_start_choice({2, 10}, t0));        // tie with B: lower rank wins
        REQUIRE_FALSE(a.cold_start_choice({2, 8}, t0));   // B holds more
        REQUIRE_FALSE(a.cold_start_choice({1, 20}, t0));  // B's epoch is newer
    }
    SECTION("a fresh cluster: the lowest rank serves once every lower rank is heard") {
        peer_view a(c, 0);
        REQUIRE(a.cold_start_choice({0, 0}, t0));  // the primary alone, nothing anywhere
        peer_view b(c, 1);
        REQUIRE_FALSE(b.cold_start_choice({0, 0}, t0));  // A unheard
        b.record(hb(c, 0, broker_state::starting, 0), t0);
        REQUIRE_FALSE(b.cold_start_choice({0, 0}, t0));  // A is fresh too and ranks lower: A's turn
    }
    SECTION("a fresh primary alone does not serve when it has heard a broker with data") {
        peer_view a(c, 0);
        a.record(hb(c, 2, broker_state::stalled, 3, 5, 3), t0);
        REQUIRE_FALSE(a.cold_start_choice({0, 0}, t0));
    }
}
