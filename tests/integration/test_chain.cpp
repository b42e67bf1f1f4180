// File: test_chain.cpp
// The core issue's numbered user steps, against real broker processes on
// loopback: serve and replicate; SIGKILL the primary and fail over; refuse
// configuration changes while the primary is down; fail back with nothing
// lost; walk down and back up the chain; restart the whole cluster.
#include <catch2/catch.hpp>

#include <thread>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

// Writes `count` keys prefix.0 .. prefix.N-1 through one `set --stdin`
// session and returns the keys the CLI reported as acknowledged.
std::set<std::string> write_keys(test_cluster& c, const std::string& prefix, int count, bool config = false,
                                 int timeout_ms = 10000) {
    std::string input;
    for (int i = 0; i < count; ++i) input += prefix + "." + std::to_string(i) + " v" + std::to_string(i) + "\n";
    std::vector<std::string> args = {"set", "--stdin"};
    if (config) args.push_back("--config");
    auto r = c.cli(args, timeout_ms, input);
    std::set<std::string> acked;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("ok ", 0) == 0) acked.insert(line.substr(3));
    return acked;
}

// Every broker's replica equals the server's dump and holds every acked key.
void require_converged(test_cluster& c, const std::vector<std::string>& brokers, const std::set<std::string>& acked) {
    std::optional<std::map<std::string, std::string>> server;
    bool same = wait_until(
        [&] {
            server = c.dump();
            if (!server) return false;
            for (const auto& b : brokers)
                if (c.dump(b) != server) return false;
            return true;
        },
        20s, 50ms);
    REQUIRE_WITH_LOGS(c, same);
    for (const auto& key : acked) {
        INFO("acknowledged key " << key << " is missing from the server's " << server->size() << " keys");
        REQUIRE(server->count(key) == 1);
    }
}

}  // namespace

TEST_CASE("chain: the primary serves and the backups hold a full replica", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    REQUIRE(c.cli({"set", "valve.1", "open"}).exit_code == 0);
    REQUIRE(c.cli({"set", "--config", "limit.max", "42"}).exit_code == 0);
    auto got = c.cli({"get", "valve.1"});
    REQUIRE(got.exit_code == 0);
    REQUIRE(got.out.find("open") != std::string::npos);
    REQUIRE(c.cli({"get", "no.such.key"}).exit_code == 4);
    REQUIRE(c.cli({"del", "valve.1"}).exit_code == 0);
    REQUIRE(c.cli({"get", "valve.1"}).exit_code == 4);
    auto acked = write_keys(c, "bulk", 300);
    REQUIRE(acked.size() == 300);
    require_converged(c, {"A", "B", "C"}, acked);
}

TEST_CASE("chain: SIGKILL of the primary, takeover, refusal of config changes, failback", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    auto acked = write_keys(c, "before", 200);
    REQUIRE(acked.size() == 200);

    c.kill(0);
    // The first backup serves once a client asks it to (wait_role votes with a set).
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
    auto op = c.cli({"set", "during.op", "1"});
    REQUIRE(op.exit_code == 0);
    acked.insert("during.op");
    auto cfg = c.cli({"set", "--config", "during.cfg", "1"});
    REQUIRE(cfg.exit_code == 3);
    REQUIRE(cfg.err.find("A") != std::string::npos);  // names the primary
    auto during = write_keys(c, "during", 200);
    REQUIRE(during.size() == 200);
    acked.insert(during.begin(), during.end());
    REQUIRE(wait_until([&] { return c.roles()["C"] == "passive"; }, 15s, 50ms));

    c.start(0);
    // A syncs from B, then they swap roles: A serves, B and C follow it.
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    REQUIRE(c.cli({"set", "--config", "after.cfg", "1"}).exit_code == 0);
    acked.insert("after.cfg");
    require_converged(c, {"A", "B", "C"}, acked);
}

TEST_CASE("chain: writes keep being acknowledged across a SIGKILL, and none is lost", "[integration][threads]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    std::set<std::string> acked;
    std::thread writer([&] { acked = write_keys(c, "storm", 3000, false, 20000); });
    // Kill the server while the writer is in full flight.
    wait_until([&] { return c.dump().value_or(std::map<std::string, std::string>{}).size() > 300; }, 10s, 5ms);
    c.kill(0);
    writer.join();
    REQUIRE(acked.size() == 3000);  // the session failed over and finished
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
    require_converged(c, {"B", "C"}, acked);
}

TEST_CASE("chain: with the primary and the first backup dead, the second backup serves, then back up the chain",
          "[integration]") {
    test_cluster c(4);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C", "D"}, 20s));
    auto acked = write_keys(c, "k", 100);
    REQUIRE(acked.size() == 100);
    require_converged(c, {"A", "B", "C", "D"}, acked);

    c.kill(0);
    c.kill(1);
    REQUIRE_WITH_LOGS(c, c.wait_role("C", "active", 15s));
    auto more = write_keys(c, "c", 100);
    REQUIRE(more.size() == 100);
    acked.insert(more.begin(), more.end());
    REQUIRE(c.cli({"set", "--config", "x", "1"}).exit_code == 3);

    // B first: it syncs from C and takes over; then A does the same to B.
    c.start(1);
    REQUIRE_WITH_LOGS(c, c.wait_settled("B", {"C", "D"}, 30s));
    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C", "D"}, 30s));
    require_converged(c, {"A", "B", "C", "D"}, acked);
}

TEST_CASE("chain: restart the primary before the first backup, then the backup", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    c.kill(0);
    c.kill(1);
    REQUIRE_WITH_LOGS(c, c.wait_role("C", "active", 15s));
    auto acked = write_keys(c, "c", 50);
    REQUIRE(acked.size() == 50);
    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"C"}, 30s));
    c.start(1);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    require_converged(c, {"A", "B", "C"}, acked);
}

TEST_CASE("chain: stop everything and start it again: nothing acknowledged is lost", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    auto acked = write_keys(c, "durable", 500);
    REQUIRE(acked.size() == 500);
    // One polite stop, two crashes.
    REQUIRE(c.stop(1) == std::optional<int>(0));
    c.kill(0);
    c.kill(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    require_converged(c, {"A", "B", "C"}, acked);
}
