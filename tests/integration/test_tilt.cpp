// File: test_tilt.cpp
// TILT (docs/protocol.md "Frozen brokers"): a broker stopped with SIGSTOP for
// five expiries wakes with every peer looking silent and every timer expired.
// It must not act on that stale timing: no server_lost for a server that
// never stopped, no forgotten replicas, no role change; the writes a client
// makes meanwhile keep succeeding on the server.
#include <catch2/catch.hpp>

#include <starbus/client/client.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

constexpr int heartbeat_ms = 50;  // expiry: three heartbeats
constexpr auto five_expiries = std::chrono::milliseconds(5 * 3 * heartbeat_ms);

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

// The part of a log written after `offset` (its size at some earlier moment).
std::string since(const std::string& log, std::size_t offset) { return log.substr(std::min(offset, log.size())); }

}  // namespace

TEST_CASE("tilt: a passive backup frozen for five expiries wakes without acting on stale timing", "[integration]") {
    test_cluster c(3, heartbeat_ms);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    starbus::client cl(client_options_for(c));
    REQUIRE(cl.set("before", "1", starbus::change_class::operational, 5s).ok());

    // Three rounds: one wake that happens to drain its heartbeats before its timers fire proves little.
    const std::size_t b_log_before = c.log_of(1).size();
    int writes = 0;
    for (int round = 1; round <= 3; ++round) {
        c.freeze(1);
        // B is frozen for five expiries while a client writes through A: A acknowledges with C once B is
        // silent, and every write succeeds on A.
        const auto frozen_at = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - frozen_at < five_expiries) {
            const auto r = cl.set("k." + std::to_string(writes++), "v", starbus::change_class::operational, 5s);
            REQUIRE_WITH_LOGS(c, r.ok());
            REQUIRE(r.server == "A");
        }
        c.thaw(1);
        // B runs again once it answers a status request: whatever its first turns decided is in its log then.
        REQUIRE_WITH_LOGS(c, wait_until([&] { return !c.roles()["B"].empty(); }, 10s, 10ms));
        const auto r = cl.set("after." + std::to_string(round), "v", starbus::change_class::operational, 5s);
        REQUIRE_WITH_LOGS(c, r.ok());
        REQUIRE(r.server == "A");
    }
    const std::string woke = since(c.log_of(1), b_log_before);
    INFO(woke);
    // The stale silence of A raised nothing: A never stopped, so B never lost it.
    CHECK(count_of(woke, "--server_lost-->") == 0);
    CHECK(count_of(woke, "--vote-->") == 0);
    CHECK(count_of(woke, "--> active") == 0);
    // A served throughout, and B catches up with everything written while it slept.
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    // It knew it had been frozen each time, and trusted its timing again once it heard its peers.
    const std::string all = since(c.log_of(1), b_log_before);
    CHECK(count_of(all, "tilt: this broker did not run") >= 3);
    CHECK(count_of(all, "tilt: over") >= 3);
    REQUIRE_WITH_LOGS(c, wait_until(
                             [&] {
                                 auto d = c.dump("B");
                                 return d && d->count("after.3") == 1 &&
                                        d->count("k." + std::to_string(writes - 1)) == 1;
                             },
                             20s, 50ms));
}

TEST_CASE("tilt: a server frozen for five expiries keeps its replicas when it wakes", "[integration]") {
    test_cluster c(3, heartbeat_ms);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    starbus::client cl(client_options_for(c));
    REQUIRE(cl.set("before", "1", starbus::change_class::operational, 5s).ok());
    const std::size_t a_log_before = c.log_of(0).size();
    const std::size_t b_log_before = c.log_of(1).size();

    // Nobody asks B or C for service meanwhile: silence alone never makes them serve (no vote).
    c.freeze(0);
    const auto frozen_at = std::chrono::steady_clock::now();
    // B and C notice A's silence (within an expiry); the freeze lasts five expiries in all.
    REQUIRE_WITH_LOGS(c, wait_until(
                             [&] {
                                 return since(c.log_of(1), b_log_before).find("--server_lost-->") !=
                                            std::string::npos &&
                                        std::chrono::steady_clock::now() - frozen_at >= five_expiries;
                             },
                             10s, 10ms));
    c.thaw(0);
    // A runs again once it answers a status request.
    REQUIRE_WITH_LOGS(c, wait_until([&] { return !c.roles()["A"].empty(); }, 10s, 10ms));
    // Its replicas never stopped: A woke with their sessions, and they keep their streams (no resync).
    for (int i = 0; i < 20; ++i) {
        const auto r = cl.set("after." + std::to_string(i), "v", starbus::change_class::operational, 5s);
        REQUIRE_WITH_LOGS(c, r.ok());
        REQUIRE(r.server == "A");
    }
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    const std::string a_woke = since(c.log_of(0), a_log_before);
    const std::string b_woke = since(c.log_of(1), b_log_before);
    INFO("A:\n" << a_woke << "\nB:\n" << b_woke);
    CHECK(count_of(a_woke, "tilt: this broker did not run") >= 1);
    CHECK(count_of(a_woke, "tilt: over") >= 1);
    CHECK(count_of(a_woke, "is silent: acknowledgements no longer wait") == 0);
    CHECK(count_of(a_woke, "--> ") == 0);  // no transition at all on A
    CHECK(count_of(b_woke, "--sync_broken-->") == 0);
    CHECK(count_of(b_woke, "--server_seen-->") == 0);
    CHECK(count_of(b_woke, "--> active") == 0);
}

TEST_CASE("tilt: a whole cluster frozen for five expiries, as on a suspended host, wakes with no role change",
          "[integration]") {
    // Nobody sends anything while all are frozen, so each broker's first turns find every peer five expiries
    // old: only the guard tells that apart from three dead peers. Heartbeat 100 ms here, so that on a loaded
    // machine every broker is heard within the expiry after the last one wakes.
    constexpr int slow_heartbeat_ms = 100;
    test_cluster c(3, slow_heartbeat_ms);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    starbus::client cl(client_options_for(c));
    REQUIRE(cl.set("before", "1", starbus::change_class::operational, 5s).ok());
    std::vector<std::size_t> log_before;
    for (std::size_t i = 0; i < 3; ++i) log_before.push_back(c.log_of(i).size());

    for (std::size_t i = 0; i < 3; ++i) c.freeze(i);
    // The suspension itself: five expiries during which nothing of the cluster runs, so nothing to wait for.
    const auto frozen_at = std::chrono::steady_clock::now();
    REQUIRE(wait_until(
        [&] {
            return std::chrono::steady_clock::now() - frozen_at >= std::chrono::milliseconds(5 * 3 * slow_heartbeat_ms);
        },
        10s, 10ms));
    // The replicas first: they run before the server can have said anything.
    c.thaw(1);
    c.thaw(2);
    c.thaw(0);
    for (const std::string name : {"A", "B", "C"})
        REQUIRE_WITH_LOGS(c, wait_until([&] { return !c.roles()[name].empty(); }, 10s, 10ms));
    for (int i = 0; i < 20; ++i) {
        const auto r = cl.set("after." + std::to_string(i), "v", starbus::change_class::operational, 5s);
        REQUIRE_WITH_LOGS(c, r.ok());
        REQUIRE(r.server == "A");
    }
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    for (std::size_t i = 0; i < 3; ++i) {
        const std::string woke = since(c.log_of(i), log_before[i]);
        INFO(c.names()[i] << ":\n" << woke);
        CHECK(count_of(woke, "tilt: this broker did not run") >= 1);
        CHECK(count_of(woke, "tilt: over") >= 1);
        // No transition at all: no server_lost, no resync, no takeover; and A forgot no replica.
        CHECK(count_of(woke, "--> ") == 0);
        CHECK(count_of(woke, "is silent: acknowledgements no longer wait") == 0);
    }
}
