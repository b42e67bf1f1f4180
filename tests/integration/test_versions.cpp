// File: test_versions.cpp
// What an operator sees of versions and logs, against real processes (issue 12, operations): `--version` of
// both programs, the release, protocol and libzmq version of each broker in `starbus status --json` (to see a
// mixed-version cluster during a rolling upgrade), and `starbus-broker --log-format json`.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include <starbus/version.hpp>
#include <starbus/wire/codec.hpp>

#include "cluster_harness.hpp"
#include "process.hpp"
#include "testutil.hpp"

using namespace std::chrono_literals;
using starbus::test::bin_dir;
using starbus::test::child_process;
using starbus::test::run_program;
using starbus::test::test_cluster;

TEST_CASE("ops: --version of both programs prints the release, the protocol and the libzmq version", "[integration]") {
    const std::regex line(R"((starbus-broker|starbus) \d+\.\d+\.\d+ \(protocol \d+, libzmq \d+\.\d+\.\d+[^)]*\)\n)");
    for (const std::string program : {"starbus-broker", "starbus"}) {
        INFO(program);
        // The tool needs no cluster file and no command for it; the broker starts nothing.
        auto r = run_program({bin_dir() + "/" + program, "--version"}, 10s);
        CHECK(r.exit_code == 0);
        CHECK(r.err.empty());
        CHECK(r.out == starbus::version_line(program) + "\n");
        CHECK(std::regex_match(r.out, line));
    }
}

TEST_CASE("ops: status --json shows the release, protocol and libzmq version each broker runs", "[integration]") {
    test_cluster c(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "passive", 15s, false));
    auto r = c.cli({"status", "--json"});
    REQUIRE(r.exit_code == 0);
    const auto brokers = nlohmann::json::parse(r.out);
    REQUIRE(brokers.size() == 2);
    for (const auto& b : brokers) {
        INFO(b.dump());
        CHECK(b["reachable"] == true);
        CHECK(b["release"] == std::string(starbus::release_version));
        CHECK(b["protocol"] == starbus::protocol_version);
        CHECK(b["libzmq"] == starbus::libzmq_version());  // the same machine, the same shared library
    }
}

TEST_CASE("ops: a broker started with --log-format json logs one JSON object per line", "[integration]") {
    test_cluster c(1);
    child_process broker({bin_dir() + "/starbus-broker", "--cluster", c.cluster_file(), "--name", "A", "--data-dir",
                          c.data_dir(0), "--log-format", "json"},
                         c.log_path(0));
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    REQUIRE(c.cli({"set", "greeting", "hello"}).exit_code == 0);
    broker.signal(SIGTERM);
    const auto status = broker.wait_exit(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);

    std::ifstream in(c.log_path(0));
    std::vector<nlohmann::json> lines;
    for (std::string text; std::getline(in, text);) {
        INFO(text);
        nlohmann::json j;
        REQUIRE_NOTHROW(j = nlohmann::json::parse(text));
        lines.push_back(j);
    }
    REQUIRE(lines.size() >= 3);
    const std::regex iso_utc_ms(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    bool saw_transition = false;
    for (const auto& j : lines) {
        INFO(j.dump());
        CHECK(std::regex_match(j.at("time").get<std::string>(), iso_utc_ms));
        CHECK(j.at("broker") == "A");
        CHECK(j.at("fields").is_object());
        const auto level = j.at("level").get<std::string>();
        CHECK((level == "trace" || level == "debug" || level == "info" || level == "warn" || level == "error" ||
               level == "critical"));
        if (j.at("event").get<std::string>().rfind("fsm: ", 0) == 0) saw_transition = true;
    }
    CHECK(saw_transition);  // the role transitions, as in the text lines
    CHECK(lines.back().at("event") == "stopped cleanly");
}
