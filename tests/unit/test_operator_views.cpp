// File: test_operator_views.cpp
// What the HTTP endpoint answers, from a report made by hand: the
// exposition format, the probes, the status JSON and page, the HTTP address.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <starbus/config/cluster_config.hpp>

#include "http_endpoint.hpp"
#include "operator_views.hpp"

using namespace starbus;
using namespace std::chrono_literals;

namespace {

broker_report server_report() {
    broker_report r;
    r.release = "9.8.7";
    r.protocol = 1;
    r.libzmq = "4.3.4";
    r.name = std::string(1, 'A');  // not = "A": GCC 12 warns falsely (-Wrestrict) on that assignment here
    r.state = broker_state::active;
    r.epoch = 256;
    r.seq = 42;
    r.commit_seq = 40;
    r.serving_starts = 1;
    r.role_changes = 2;
    r.requests = {{"set", 7}, {"ping", 3}};
    r.refused = {{"not_authorised", 2}};
    r.bus_messages = 5;
    r.clients = 3;
    r.files = 2;
    r.file_bytes = 1024;
    r.fsync.observe(0.0002);
    r.fsync.observe(0.003);
    r.fsync.observe(2.0);
    peer_report self{"A", 0, true, true, 0, "active", 256, 42, std::nullopt, false};
    peer_report b{"B", 1, false, true, 30, "passive", 256, 42, 2, true};
    peer_report c{"C<x>", 2, false, false, -1, "", 0, 0, std::nullopt, false};
    r.brokers = {self, b, c};
    r.transitions = {{1764770000000, "starting", "cold_start_elected", "active", "nobody serves & I hold the most"}};
    r.made_unix_ms = 1764770001234;
    return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("operator_views: the metrics hold every series the issue names, in the exposition format",
          "[operator_views]") {
    const std::string m = render_metrics(server_report(), process_figures{1e6, 12, 1.5, 0});
    for (const char* line : {"# TYPE starbus_state gauge", "starbus_state{state=\"active\"} 1",
                             "starbus_state{state=\"starting\"} 0", "starbus_epoch 256", "starbus_seq 42",
                             "starbus_commit_seq 40", "starbus_serving_starts_total 1", "starbus_role_changes_total 2",
                             "starbus_replica_lag{replica=\"B\"} 2", "starbus_replica_synchronised{replica=\"B\"} 1",
                             "starbus_requests_total{command=\"set\"} 7",
                             "starbus_refused_total{reason=\"not_authorised\"} 2", "starbus_bus_messages_total 5",
                             "starbus_clients 3", "starbus_files 2", "starbus_file_bytes 1024",
                             "# TYPE starbus_fsync_seconds histogram", "starbus_fsync_seconds_count 3",
                             "starbus_fsync_seconds_bucket{le=\"0.00025\"} 1", "starbus_fsync_seconds_bucket{le=\"0.005\"} 2",
                             "starbus_fsync_seconds_bucket{le=\"1\"} 2", "starbus_fsync_seconds_bucket{le=\"+Inf\"} 3",
                             "process_resident_memory_bytes 1000000", "process_open_fds 12",
                             "process_cpu_seconds_total 1.5"}) {
        INFO(line);
        CHECK(contains(m, line));
    }
    // Only the server reports its replicas, and a replica no commit point.
    broker_report replica = server_report();
    replica.state = broker_state::passive;
    replica.commit_seq.reset();
    for (auto& b : replica.brokers) b.lag.reset();
    const std::string r = render_metrics(replica, {});
    CHECK_FALSE(contains(r, "starbus_commit_seq "));
    CHECK_FALSE(contains(r, "starbus_replica_lag{"));
    CHECK(contains(r, "starbus_state{state=\"passive\"} 1"));
}

TEST_CASE("operator_views: readyz is 200 for a server or a synchronised replica only", "[operator_views]") {
    broker_report r = server_report();
    CHECK(readiness(r).status == 200);
    r.state = broker_state::handover;
    CHECK(readiness(r).status == 200);
    r.state = broker_state::passive;
    r.synchronised_replica = true;
    r.server = std::string(1, 'B');
    CHECK(readiness(r).status == 200);
    CHECK(contains(readiness(r).body, "synchronised replica of B"));
    for (broker_state s : {broker_state::starting, broker_state::stalled, broker_state::syncing}) {
        r.state = s;
        r.synchronised_replica = false;
        r.note = "why not";
        const probe_answer a = readiness(r);
        CHECK(a.status == 503);
        CHECK(contains(a.body, std::string(to_string(s))));
        CHECK(contains(a.body, "why not"));
    }
}

TEST_CASE("operator_views: livez fails once the reactor has not turned for the limit", "[operator_views]") {
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    CHECK(liveness(t0, t0 + 100ms, 2000ms).status == 200);
    CHECK(liveness(t0, t0 + 2000ms, 2000ms).status == 200);
    const probe_answer stuck = liveness(t0, t0 + 2001ms, 2000ms);
    CHECK(stuck.status == 503);
    CHECK(contains(stuck.body, "2001 ms"));
}

TEST_CASE("operator_views: status.json and the page show every broker, escaped, with the transitions",
          "[operator_views]") {
    const broker_report r = server_report();
    const nlohmann::json doc = nlohmann::json::parse(render_status_json(r));
    CHECK(doc.at("broker") == "A");
    CHECK(doc.at("release") == "9.8.7");
    CHECK(doc.at("protocol") == 1);
    CHECK(doc.at("libzmq") == "4.3.4");
    CHECK(doc.at("ready") == true);
    REQUIRE(doc.at("brokers").size() == 3);
    CHECK(doc.at("brokers")[1].at("lag") == 2);
    CHECK(doc.at("brokers")[2].at("heard_ms_ago") == -1);
    CHECK(doc.at("transitions")[0].at("to") == "active");
    CHECK(doc.at("time") == "2025-12-03 13:53:21.234 UTC");

    const std::string page = render_status_page(r, 2);
    CHECK(contains(page, "<meta http-equiv=\"refresh\" content=\"2\">"));
    CHECK(contains(page, "<meta name=\"viewport\""));
    CHECK(contains(page, "<td>A (this)</td><td>server</td><td>active</td>"));
    CHECK(contains(page, "<td>B</td><td>replica</td><td>passive</td>"));
    CHECK(contains(page, "C&lt;x&gt;"));  // names are escaped
    CHECK_FALSE(contains(page, "C<x>"));
    CHECK(contains(page, "nobody serves &amp; I hold the most"));
    CHECK_FALSE(contains(page, "http://"));
    CHECK_FALSE(contains(page, "<script"));
    CHECK(contains(page, "starbus 9.8.7, protocol 1, libzmq 4.3.4"));
}

TEST_CASE("operator_views: an HTTP address is HOST:PORT", "[operator_views]") {
    CHECK(parse_http_address("127.0.0.1:8080").host == "127.0.0.1");
    CHECK(parse_http_address("127.0.0.1:8080").port == 8080);
    CHECK(parse_http_address("[::1]:9").host == "::1");
    CHECK(parse_http_address("*:0").host == "0.0.0.0");
    CHECK(parse_http_address("*:0").port == 0);
    for (const char* bad : {"8080", ":8080", "host:", "host:http", "host:70000", "host:-1"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_http_address(bad), config_error);
    }
}
