// File: test_http.cpp
// The brokers' HTTP endpoint for operators, against real brokers on loopback
// (docs/deploy.md): the probes, the Prometheus metrics and the status page
// follow the roles across a SIGKILL failover, and the page renders in a real
// headless browser (Debian's chromium; skipped, saying so, where it is not
// installed).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::run_program;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

struct answer {
    int status = 0;  // 0: no answer
    std::string body;
    std::string content_type;
};

answer get(const test_cluster& c, std::size_t broker, const std::string& path) {
    httplib::Client client(c.host(), c.http_port(broker));
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(2, 0);
    auto res = client.Get(path.c_str());
    if (!res) return {};
    return {res->status, res->body, res->get_header_value("Content-Type")};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The value of one sample line "NAME VALUE" of a metrics text (nullopt when absent).
std::optional<double> sample(const std::string& metrics, const std::string& name) {
    const auto at = metrics.find("\n" + name + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(metrics.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("http: the probes, the metrics and the status page follow the roles across a failover", "[integration]") {
    test_cluster c(2, 50);
    c.enable_http();
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    for (int i = 0; i < 5; ++i) REQUIRE(c.cli({"set", "k" + std::to_string(i), "v"}).exit_code == 0);

    // Both ready: A serves, B is a synchronised replica. Both alive.
    REQUIRE(wait_until([&] { return get(c, 0, "/readyz").status == 200 && get(c, 1, "/readyz").status == 200; },
                       10s, 50ms));
    CHECK(contains(get(c, 0, "/readyz").body, "A serves"));
    CHECK(contains(get(c, 1, "/readyz").body, "synchronised replica of A"));
    CHECK(get(c, 0, "/livez").status == 200);

    // Metrics: the exposition format, A active, B synchronised with nothing left to acknowledge.
    answer m;
    REQUIRE(wait_until(
        [&] {
            // The report is made anew every 250 ms: wait for one made after the five writes.
            m = get(c, 0, "/metrics");
            return contains(m.body, "starbus_replica_synchronised{replica=\"B\"} 1") &&
                   contains(m.body, "starbus_replica_lag{replica=\"B\"} 0") &&
                   sample(m.body, "starbus_commit_seq").value_or(0) >= 5;
        },
        10s, 50ms));
    CHECK(m.status == 200);
    CHECK(m.content_type == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(contains(m.body, "starbus_state{state=\"active\"} 1"));
    CHECK(contains(m.body, "starbus_state{state=\"passive\"} 0"));
    CHECK(sample(m.body, "starbus_serving_starts_total") == 1.0);
    CHECK(sample(m.body, "starbus_seq").value_or(0) >= 5);
    CHECK(sample(m.body, "starbus_commit_seq").value_or(0) >= 5);
    CHECK(contains(m.body, "starbus_requests_total{command=\"set\"}"));
    CHECK(contains(m.body, "starbus_fsync_seconds_bucket{le=\"+Inf\"}"));
    CHECK(sample(m.body, "process_resident_memory_bytes").value_or(0) > 0);
    CHECK(sample(m.body, "process_open_fds").value_or(0) > 0);

    // status.json: every broker in rank order, with what A knows of B.
    const answer s = get(c, 0, "/status.json");
    REQUIRE(s.status == 200);
    const nlohmann::json doc = nlohmann::json::parse(s.body);
    CHECK(doc.at("state") == "active");
    REQUIRE(doc.at("brokers").size() == 2);
    CHECK(doc.at("brokers")[0].at("name") == "A");
    CHECK(doc.at("brokers")[1].at("name") == "B");
    CHECK(doc.at("brokers")[1].at("state") == "passive");
    CHECK(doc.at("brokers")[1].at("synchronised") == true);
    CHECK_FALSE(doc.at("transitions").empty());

    // The server dies: B takes over, says so on every view; A no longer answers at all.
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    CHECK(get(c, 0, "/livez").status == 0);
    REQUIRE(wait_until([&] { return contains(get(c, 1, "/readyz").body, "B serves"); }, 10s, 50ms));
    answer after;
    REQUIRE(wait_until(
        [&] {
            after = get(c, 1, "/metrics");
            return contains(after.body, "starbus_state{state=\"active\"} 1");
        },
        10s, 50ms));
    CHECK(sample(after.body, "starbus_serving_starts_total") == 1.0);
    CHECK(sample(after.body, "starbus_role_changes_total").value_or(0) >= 3);  // starting, syncing, passive, active
    const nlohmann::json b = nlohmann::json::parse(get(c, 1, "/status.json").body);
    CHECK(b.at("transitions").back().at("to") == "active");
    const answer page = get(c, 1, "/");
    CHECK(page.status == 200);
    CHECK(contains(page.content_type, "text/html"));
    CHECK(contains(page.body, "<meta http-equiv=\"refresh\""));
    CHECK_FALSE(contains(page.body, "http://"));  // no external asset
    CHECK_FALSE(contains(page.body, "https://"));
    CHECK(get(c, 1, "/no-such-page").status == 404);

    // A frozen broker fails its liveness probe (a probe that gets no answer fails, as the kubelet counts it).
    c.freeze(1);
    CHECK(get(c, 1, "/livez").status != 200);
    c.thaw(1);
    CHECK(wait_until([&] { return get(c, 1, "/livez").status == 200; }, 10s, 50ms));
}

TEST_CASE("http: the status page renders in a headless browser", "[integration]") {
    std::string browser;
    for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
        if (::access(candidate, X_OK) == 0) browser = candidate;
    if (browser.empty()) {
        WARN("skipped: no chromium here (Debian: apt-get install chromium) to render the status page");
        return;
    }
    test_cluster c(2, 50);
    c.enable_http();
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    REQUIRE(wait_until([&] { return get(c, 0, "/readyz").status == 200; }, 10s, 50ms));

    const std::string url = "http://" + c.host() + ":" + std::to_string(c.http_port(0)) + "/";
    const auto r = run_program({browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--user-data-dir=" + (c.directory() / "browser").string(), "--dump-dom", url},
                               60s);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    // The DOM the browser built: the table of brokers, both rows, A serving; the transitions.
    CHECK(contains(r.out, "<table id=\"brokers\">"));
    CHECK(contains(r.out, "<td>A (this)</td><td>server</td><td>active</td>"));
    CHECK(contains(r.out, "<td>B</td><td>replica</td><td>passive</td>"));
    CHECK(contains(r.out, "<table id=\"transitions\">"));
}
