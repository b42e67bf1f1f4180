// File: test_stall_and_freeze.cpp
// Two ways the cluster must not serve wrongly: a cold start that cannot see
// every broker waits (and says why) until an operator forces a broker; and a
// server frozen with SIGSTOP, replaced while frozen, steps down when it wakes
// up instead of serving beside its successor (epochs).
#include <catch2/catch.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

std::string note_of(test_cluster& c, const std::string& name) {
    auto r = c.cli({"status", "--json"}, 1000);
    try {
        for (const auto& b : nlohmann::json::parse(r.out))
            if (b.at("name") == name) return b.value("note", "");
    } catch (const std::exception&) {
    }
    return {};
}

}  // namespace

TEST_CASE("stall: a cold start without every broker waits, says why, and serves when forced", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    REQUIRE(c.cli({"set", "kept", "1"}).exit_code == 0);
    c.kill(0);
    c.kill(1);
    c.kill(2);
    // C stays down: A and B hold data, and C might hold more, so nobody may serve on its own.
    c.start(0);
    c.start(1);
    REQUIRE_WITH_LOGS(c, wait_until([&] { return note_of(c, "A").find("force") != std::string::npos; }, 15s, 50ms));
    REQUIRE(note_of(c, "A").find("C") != std::string::npos);  // names the broker it waits for
    auto refused = c.cli({"set", "x", "1"}, 1500);
    REQUIRE(refused.exit_code == 5);  // nobody serves
    REQUIRE(c.roles()["A"] == "syncing");

    // The documented way out: the operator accepts the risk and forces A.
    auto forced = c.cli({"force", "A"});
    REQUIRE(forced.exit_code == 0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    auto got = c.cli({"get", "kept"});
    REQUIRE(got.exit_code == 0);
    // Forcing a second broker while A serves is refused.
    REQUIRE(c.cli({"force", "B"}).exit_code == 3);
}

TEST_CASE("freeze: a server frozen and replaced steps down when it wakes up", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    REQUIRE(c.cli({"set", "before", "1"}).exit_code == 0);
    c.freeze(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
    REQUIRE(c.cli({"set", "during", "2"}).exit_code == 0);
    c.thaw(0);
    // A wakes up still believing it serves at the old epoch; B's higher epoch makes it step down (the
    // failback that follows can be quicker than a status poll, so the broker's own log is the witness).
    REQUIRE_WITH_LOGS(c, wait_until([&] { return c.log_of(0).find("active --server_seen--> syncing") !=
                                                 std::string::npos; },
                                    15s, 20ms));
    // Then A, outranking B, syncs and takes its role back, with nothing lost.
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    auto d = c.dump("A");
    REQUIRE(d);
    REQUIRE(d->count("before") == 1);
    REQUIRE(d->count("during") == 1);
}
