// File: bench_failback.cpp
// starbus-bench-failback: how long the primary takes to serve again after a
// crash, by state size. For each K (--keys) and repetition, on a fresh
// 3-broker cluster: load K keys (set_many), SIGKILL the primary A, make B
// serve (a client request is the vote), write a few more keys, restart A on
// its data directory and poll A's status every 20 ms from the moment the
// process starts until A is active (it recovers its replica, listens, syncs
// the delta from B, becomes passive, asks B for the role and gets it).
// Reported: restart -> A answers, -> passive, -> active; median/min/max.
// Afterwards A's own copy must hold every key written.
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <starbus/client/client.hpp>

#include "bench_support.hpp"

namespace {

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;

struct options {
    int reps = 5;
    std::string keys = "10000,100000";
    std::size_t extra = 10;  // keys written while B serves
    std::size_t key_bytes = 16;
    std::size_t value_bytes = 100;
    std::size_t window = 1000;
    int heartbeat_ms = 100;
    int poll_ms = 20;
    int max_seconds = 120;
    std::string broker;
    std::string log_dir;
};

struct rep_result {
    double load_rate = 0;      // changes/s of the initial set_many
    double takeover_ms = -1;   // kill A -> B acknowledged the client's request
    double reachable_ms = -1;  // restart -> A answers status (recovered its replica, listening)
    double passive_ms = -1;    // restart -> A passive (synchronised with B)
    double active_ms = -1;     // restart -> A active
    std::size_t a_keys = 0;    // keys in A's own copy afterwards
    std::size_t expected_keys = 0;
    std::string failure;
};

double ms_since(clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); }

rep_result measure(const options& o, const std::string& broker_path, std::size_t k, int rep) {
    rep_result out;
    cluster_settings settings;
    settings.brokers = 3;
    settings.heartbeat_ms = o.heartbeat_ms;
    if (!o.log_dir.empty())
        settings.log_dir = o.log_dir + "/keys" + std::to_string(k) + "-rep" + std::to_string(rep + 1);
    bench_cluster cluster(broker_path, settings);
    cluster.start_all();
    auto fail = [&](const std::string& why) {
        out.failure = why;
        std::cerr << "keys " << k << " rep " << rep + 1 << ": " << why << "\n" << cluster.log_tail();
        return out;
    };
    if (!cluster.wait_settled(0, std::chrono::seconds(30))) return fail("the cluster did not settle within 30 s");

    client_options co = cluster.options();
    co.window = o.window;
    client c(co);
    const deadline until(clock::now() + std::chrono::seconds(o.max_seconds));

    // Load K keys.
    {
        std::vector<change_request> batch;
        batch.reserve(k);
        for (std::size_t i = 0; i < k; ++i)
            batch.push_back(change_request::put(make_key("fb", i, o.key_bytes), make_value('v', o.value_bytes)));
        const auto t0 = clock::now();
        const result r = c.set_many(batch, until);
        if (!r.ok()) return fail("loading failed: " + r.message);
        out.load_rate = static_cast<double>(k) / seconds_since(t0);
    }
    // Every replica holds it all (the ack rule waits for one of them only).
    const bool caught_up = test::wait_until(
        [&] {
            const auto rows = cluster.status(milliseconds(500));
            for (const auto& row : rows)
                if (!row.reachable || row.seq != rows.front().seq) return false;
            return true;
        },
        std::chrono::seconds(30), milliseconds(20));
    if (!caught_up) return fail("the replicas did not catch up within 30 s");

    // Crash A; a client request makes B serve.
    const auto kill_at = clock::now();
    cluster.kill(0);
    const result takeover = c.set("fb.takeover", "x", change_class::operational, until);
    if (!takeover.ok()) return fail("no broker took over: " + takeover.message);
    out.takeover_ms = ms_since(kill_at);
    if (takeover.server != cluster.name(1))
        return fail("expected " + cluster.name(1) + " to take over, " + takeover.server + " did");
    for (std::size_t i = 0; i < o.extra; ++i) {
        const result r =
            c.set(make_key("fbx", i, o.key_bytes), make_value('x', o.value_bytes), change_class::operational, until);
        if (!r.ok()) return fail("a write while " + cluster.name(1) + " serves failed: " + r.message);
    }

    // Restart A and watch it come back.
    const auto restart_at = clock::now();
    cluster.start(0);
    const auto limit = restart_at + std::chrono::seconds(o.max_seconds);
    for (int tick = 1; clock::now() < limit; ++tick) {
        const auto row = cluster.status_of(0, milliseconds(std::max(o.poll_ms, 50)));
        const double t = ms_since(restart_at);
        if (row) {
            if (out.reachable_ms < 0) out.reachable_ms = t;
            if (out.passive_ms < 0 && (row->state == broker_state::passive || row->state == broker_state::active))
                out.passive_ms = t;
            if (row->state == broker_state::active) {
                out.active_ms = t;
                break;
            }
        }
        std::this_thread::sleep_until(restart_at + milliseconds(o.poll_ms) * tick);
    }
    if (out.active_ms < 0) return fail("A was not active within " + std::to_string(o.max_seconds) + " s");

    // A's own copy holds everything: the K keys, the extra ones, and the probes.
    out.expected_keys = k + o.extra + 1;
    const dump_result d = c.dump(until, cluster.name(0));
    if (!d.ok()) return fail("dump of A failed: " + d.message);
    std::size_t found = 0;
    for (const auto& e : d.entries)
        if (e.key.rfind("fb", 0) == 0) ++found;
    out.a_keys = found;
    if (found != out.expected_keys)
        out.failure = "A holds " + std::to_string(found) + " of the " + std::to_string(out.expected_keys) + " keys";
    return out;
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    std::vector<std::size_t> sizes;
    for (const auto& s : split_list(o.keys)) {
        const long long n = std::stoll(s);
        if (n < 1 || n > 100000000) throw std::runtime_error("--keys: " + s + " is not a count from 1 to 1e8");
        sizes.push_back(static_cast<std::size_t>(n));
    }
    std::cout << "starbus-bench-failback: 3-broker clusters, heartbeat " << o.heartbeat_ms << " ms; keys " << o.keys
              << " (" << o.key_bytes << "-byte keys, " << o.value_bytes << "-byte values); " << o.extra
              << " keys written while B serves; status polled every " << o.poll_ms << " ms; " << o.reps
              << " repetitions\n"
              << std::flush;

    std::map<std::size_t, std::vector<rep_result>> results;
    table t({"keys", "rep", "load changes/s", "kill->B serves ms", "restart->A answers ms", "->A passive ms",
             "->A active ms", "A keys", "note"});
    bool failed = false;
    for (auto k : sizes) {
        for (int rep = 0; rep < o.reps; ++rep) {
            rep_result r = measure(o, broker_path, k, rep);
            results[k].push_back(r);
            if (!r.failure.empty()) failed = true;
            t.add({std::to_string(k), std::to_string(rep + 1), fmt(r.load_rate), fmt(r.takeover_ms, 1),
                   fmt(r.reachable_ms, 1), fmt(r.passive_ms, 1), fmt(r.active_ms, 1),
                   std::to_string(r.a_keys) + "/" + std::to_string(r.expected_keys), r.failure});
            std::cout << "  keys " << k << " rep " << rep + 1 << ": A active " << fmt(r.active_ms, 1)
                      << " ms after its restart" << (r.failure.empty() ? "" : " [" + r.failure + "]") << "\n"
                      << std::flush;
        }
    }
    std::cout << "\n";
    t.print();
    std::cout << "\n";
    table sum({"keys", "A active ms median", "min", "max", "A answers ms median", "A passive ms median",
               "kill->B serves ms median"});
    std::string line = "failback:";
    for (auto k : sizes) {
        std::vector<double> active, reach, passive, takeover;
        for (const auto& r : results[k]) {
            if (r.active_ms >= 0) active.push_back(r.active_ms);
            if (r.reachable_ms >= 0) reach.push_back(r.reachable_ms);
            if (r.passive_ms >= 0) passive.push_back(r.passive_ms);
            if (r.takeover_ms >= 0) takeover.push_back(r.takeover_ms);
        }
        const summary s = summarize(active);
        sum.add({std::to_string(k), fmt(s.median, 1), fmt(s.min, 1), fmt(s.max, 1), fmt(summarize(reach).median, 1),
                 fmt(summarize(passive).median, 1), fmt(summarize(takeover).median, 1)});
        line += " " + std::to_string(k) + " keys: A active " + fmt(s.median) + " ms after restart (median of " +
                std::to_string(s.count) + ", min " + fmt(s.min) + ", max " + fmt(s.max) + ");";
    }
    sum.print();
    line.pop_back();
    std::cout << "\n" << line << "\n";
    return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-failback: time for a restarted primary to serve again, by state size"};
    options o;
    app.add_option("--reps", o.reps, "repetitions per size (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--keys", o.keys, "comma-separated state sizes (keys loaded before the crash)");
    app.add_option("--extra", o.extra, "keys written while B serves")->check(CLI::Range(0, 10000000));
    app.add_option("--key-bytes", o.key_bytes, "key size")->check(CLI::Range(8, 1024));
    app.add_option("--value-bytes", o.value_bytes, "value size")->check(CLI::Range(1, 1000000));
    app.add_option("--window", o.window, "requests in flight while loading")->check(CLI::Range(1, 1000000));
    app.add_option("--heartbeat-ms", o.heartbeat_ms, "cluster heartbeat")->check(CLI::Range(10, 60000));
    app.add_option("--poll-ms", o.poll_ms, "status polling interval")->check(CLI::Range(1, 10000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of each phase")->check(CLI::Range(1, 3600));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    app.add_option("--log-dir", o.log_dir, "keep the broker logs under this directory (default: removed at exit)");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-failback", [&] {
        return run(o);
    });
}
