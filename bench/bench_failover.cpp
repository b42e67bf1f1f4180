// File: bench_failover.cpp
// starbus-bench-failover: how long writers stall when the serving broker
// crashes. A 3-broker cluster (heartbeat 100 ms by default); one client
// writes operational changes continuously (set() one at a time, each to a
// new key) and records the time of every ack and which broker gave it. Each
// trial SIGKILLs the serving broker; the gap is the time from the last ack
// of the old server to the first ack of the new one. The killed broker is
// then restarted on the same data directory and the cluster left to settle
// (primary active again after its handover, the others passive) before the
// next trial; the client-visible pause of that handover is reported too.
// Afterwards every acknowledged key must be in the server's state (dump),
// and in every replica's: the lost count must be 0.
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
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
    int trials = 20;
    int heartbeat_ms = 100;
    int steady_ms = 300;  // writes acknowledged by the server before each kill (plus 0..100 ms of jitter)
    std::size_t value_bytes = 100;
    std::string broker;
    std::string log_dir;
};

// One acknowledged change, as the writer saw it.
struct ack_record {
    clock::time_point at;
    std::size_t server = 0;  // index of the broker that answered
};

struct server_change {
    clock::time_point at;
    std::size_t server = 0;
};

// What the writer thread records; the main thread reads it under the lock.
class writer_log {
  public:
    void ack(clock::time_point at, std::size_t server, std::uint64_t key_number) {
        std::lock_guard lock(_m);
        _acks.push_back({at, server});
        _acked_keys.push_back(key_number);
    }
    void changed(clock::time_point at, std::size_t server) {
        std::lock_guard lock(_m);
        _changes.push_back({at, server});
    }
    void failed(const std::string& why) {
        std::lock_guard lock(_m);
        ++_failures;
        if (_first_failure.empty()) _first_failure = why;
    }
    [[nodiscard]] std::vector<ack_record> acks() const {
        std::lock_guard lock(_m);
        return _acks;
    }
    [[nodiscard]] std::vector<server_change> changes() const {
        std::lock_guard lock(_m);
        return _changes;
    }
    // Acks after time `t` whose server is (same) or is not (!same) `server`.
    [[nodiscard]] std::size_t count_after(clock::time_point t, std::size_t server, bool same) const {
        std::lock_guard lock(_m);
        std::size_t n = 0;
        for (auto it = _acks.rbegin(); it != _acks.rend() && it->at > t; ++it)
            if ((it->server == server) == same) ++n;
        return n;
    }
    [[nodiscard]] std::optional<ack_record> last() const {
        std::lock_guard lock(_m);
        if (_acks.empty()) return std::nullopt;
        return _acks.back();
    }
    [[nodiscard]] std::vector<std::uint64_t> acked_keys() const {
        std::lock_guard lock(_m);
        return _acked_keys;
    }
    [[nodiscard]] std::size_t failures() const {
        std::lock_guard lock(_m);
        return _failures;
    }
    [[nodiscard]] std::string first_failure() const {
        std::lock_guard lock(_m);
        return _first_failure;
    }

  private:
    mutable std::mutex _m;
    std::vector<ack_record> _acks;
    std::vector<server_change> _changes;
    std::vector<std::uint64_t> _acked_keys;
    std::size_t _failures = 0;
    std::string _first_failure;
};

std::string key_of(std::uint64_t n) { return "fo." + std::to_string(n); }
std::string value_of(std::uint64_t n, std::size_t bytes) {
    std::string v = std::to_string(n) + ":";
    if (v.size() < bytes) v += std::string(bytes - v.size(), 'v');
    return v;
}

double ms_between(clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

struct trial_result {
    std::string killed, successor;
    double gap_ms = -1;        // last ack from the old server -> first ack from the new one
    double first_ack_ms = -1;  // kill -> first ack from the new server
    double detect_ms = -1;     // kill -> the client's server_changed event
    double handover_ms = -1;   // after the restart: the client's pause while the role went back
    double settle_s = -1;      // restart -> settled
    std::string note;
};

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    cluster_settings settings;
    settings.brokers = 3;
    settings.heartbeat_ms = o.heartbeat_ms;
    settings.log_dir = o.log_dir;
    bench_cluster cluster(broker_path, settings);
    cluster.start_all();
    std::cout << "starbus-bench-failover: " << o.trials << " trials; " << cluster.describe()
              << "; a writer does set() one at a time (" << o.value_bytes << "-byte values)\n"
              << std::flush;
    if (!cluster.wait_settled(0, std::chrono::seconds(30))) {
        std::cerr << "the cluster did not settle within 30 s:\n" << cluster.log_tail();
        return 1;
    }

    writer_log log;
    std::atomic<bool> stop{false};
    const auto writer_until = clock::now() + std::chrono::seconds(60) * (o.trials + 1);
    std::thread writer([&] {
        client_options co = cluster.options();
        client c(co);
        c.on_event([&](const client_event& e) {
            if (const auto* s = std::get_if<server_changed>(&e)) log.changed(clock::now(), cluster.index_of(s->name));
        });
        for (std::uint64_t n = 0; !stop.load() && clock::now() < writer_until; ++n) {
            const result r =
                c.set(key_of(n), value_of(n, o.value_bytes), change_class::operational, std::chrono::seconds(10));
            const auto at = clock::now();
            if (r.ok()) log.ack(at, cluster.index_of(r.server), n);
            else log.failed(r.message);
        }
    });

    std::mt19937 rng(std::random_device{}());
    std::vector<trial_result> trials;
    table t({"trial", "killed", "new server", "gap ms", "kill->ack ms", "kill->event ms", "handover pause ms",
             "restart->settled s", "note"});
    for (int trial = 0; trial < o.trials; ++trial) {
        trial_result tr;
        // Steady writes on the settled server before the kill.
        const auto steady_from = clock::now();
        const auto steady_for = milliseconds(o.steady_ms + static_cast<int>(rng() % 100));
        const bool steady = test::wait_until(
            [&] {
                auto last = log.last();
                return last && clock::now() - steady_from >= steady_for && last->at > steady_from &&
                       log.count_after(steady_from, last->server, true) >= 10;
            },
            std::chrono::seconds(20), milliseconds(2));
        const auto last = log.last();
        if (!steady || !last) {
            tr.note = "no steady writes before the kill: " + log.first_failure();
            trials.push_back(tr);
            t.add({std::to_string(trial + 1), "", "", "", "", "", "", "", tr.note});
            break;
        }
        const std::size_t victim = last->server;
        tr.killed = cluster.name(victim);
        const auto kill_at = clock::now();
        cluster.kill(victim);

        // Until the new server acknowledges.
        std::optional<ack_record> first_new;
        test::wait_until(
            [&] {
                for (const auto& a : log.acks())
                    if (a.at > kill_at && a.server != victim) {
                        first_new = a;
                        return true;
                    }
                return false;
            },
            std::chrono::seconds(20), milliseconds(5));
        if (!first_new) {
            tr.note = "no ack from another broker within 20 s";
        } else {
            tr.successor = cluster.name(first_new->server);
            clock::time_point last_old{};
            for (const auto& a : log.acks())
                if (a.server == victim && a.at < first_new->at) last_old = a.at;
            tr.gap_ms = ms_between(last_old, first_new->at);
            tr.first_ack_ms = ms_between(kill_at, first_new->at);
            for (const auto& ch : log.changes())
                if (ch.at > kill_at && ch.server != victim) {
                    tr.detect_ms = ms_between(kill_at, ch.at);
                    break;
                }
        }

        // Restart the killed broker on its data and let the cluster settle.
        const auto restart_at = clock::now();
        cluster.start(victim);
        if (!cluster.wait_settled(0, std::chrono::seconds(30))) {
            tr.note += (tr.note.empty() ? "" : "; ") + std::string("did not settle within 30 s");
            trials.push_back(tr);
            t.add({std::to_string(trial + 1), tr.killed, tr.successor, fmt(tr.gap_ms, 1), fmt(tr.first_ack_ms, 1),
                   fmt(tr.detect_ms, 1), "", "", tr.note});
            std::cerr << cluster.log_tail();
            break;
        }
        tr.settle_s = seconds_since(restart_at);
        // The client's pause while the role went back: the first ack from the
        // settled server after the restart, against the ack just before it.
        // Waits for the writer to reach the settled server (bounded).
        test::wait_until([&] { return log.count_after(restart_at, 0, true) > 0; }, std::chrono::seconds(10),
                         milliseconds(5));
        {
            const auto acks = log.acks();
            for (std::size_t i = 1; i < acks.size(); ++i) {
                if (acks[i].at > restart_at && acks[i].server == 0 && acks[i - 1].server != 0) {
                    tr.handover_ms = ms_between(acks[i - 1].at, acks[i].at);
                    break;
                }
            }
        }
        trials.push_back(tr);
        t.add({std::to_string(trial + 1), tr.killed, tr.successor, fmt(tr.gap_ms, 1), fmt(tr.first_ack_ms, 1),
               fmt(tr.detect_ms, 1), tr.handover_ms >= 0 ? fmt(tr.handover_ms, 1) : "-", fmt(tr.settle_s, 2), tr.note});
        std::cout << "  trial " << trial + 1 << ": killed " << tr.killed << ", gap " << fmt(tr.gap_ms, 1)
                  << " ms, new server " << tr.successor << (tr.note.empty() ? "" : " [" + tr.note + "]") << "\n"
                  << std::flush;
    }
    stop = true;
    writer.join();

    // Every acknowledged key must still be there, on the server and on every replica.
    const bool settled = cluster.wait_settled(0, std::chrono::seconds(30));
    const auto acked = log.acked_keys();
    std::vector<std::string> examples;  // a few missing keys, for the report
    auto count_lost = [&](const dump_result& d) {
        std::map<std::string, std::string> have;
        for (const auto& e : d.entries) have.emplace(e.key, e.value);
        std::size_t lost = 0;
        for (auto n : acked) {
            auto it = have.find(key_of(n));
            if (it == have.end() || it->second != value_of(n, o.value_bytes)) {
                ++lost;
                if (examples.size() < 5) examples.push_back(d.broker + ":" + key_of(n));
            }
        }
        return lost;
    };
    auto at = [](const dump_result& d) {
        return " at (" + std::to_string(d.position.epoch) + ", " + std::to_string(d.position.seq) + ")";
    };
    std::optional<std::size_t> lost;
    std::string lost_line;  // "server B at (3, 812): 0; replicas: A at (3, 812): 0, ..."
    {
        const dump_result d = cluster.probe().dump(std::chrono::seconds(30));
        if (d.ok()) lost = count_lost(d);
        lost_line =
            d.ok() ? "server " + d.broker + at(d) + ": " + std::to_string(*lost) : "server dump failed: " + d.message;
        lost_line += "; each broker's own copy:";
        for (std::size_t i = 0; i < cluster.size(); ++i) {
            // No writer runs now: every synchronised replica should hold everything acknowledged.
            const dump_result r = cluster.probe().dump(std::chrono::seconds(30), cluster.name(i));
            lost_line +=
                " " + cluster.name(i) + (r.ok() ? at(r) + ": " + std::to_string(count_lost(r)) : " dump failed");
            if (i + 1 < cluster.size()) lost_line += ",";
        }
    }

    std::cout << "\n";
    t.print();
    std::vector<double> gaps, handovers;
    for (const auto& tr : trials) {
        if (tr.gap_ms >= 0) gaps.push_back(tr.gap_ms);
        if (tr.handover_ms >= 0) handovers.push_back(tr.handover_ms);
    }
    std::cout << "\nacknowledged changes: " << acked.size()
              << ", failed requests (not acknowledged within 10 s): " << log.failures()
              << (log.failures() ? " (first: " + log.first_failure() + ")" : "") << "\n";
    std::cout << "lost acknowledged keys: " << lost_line << (settled ? "" : " (the cluster had not settled)") << "\n";
    if (!examples.empty()) {
        std::cout << "missing, e.g.:";
        for (const auto& e : examples) std::cout << " " << e;
        std::cout << "\n";
    }
    if (!handovers.empty())
        std::cout << "handover pause after the restart: p50 " << fmt(percentile(handovers, 50), 1) << " ms, max "
                  << fmt(summarize(handovers).max, 1) << " ms\n";
    const double p99 = percentile(gaps, 99);
    std::cout << "\nfailover: gap p50 " << fmt(percentile(gaps, 50), 1) << " ms, p99 " << fmt(p99, 1) << " ms, max "
              << fmt(summarize(gaps).max, 1) << " ms over " << gaps.size() << " trials (target p99 < 500 ms: "
              << (p99 < 500 && gaps.size() == static_cast<std::size_t>(o.trials) ? "met" : "MISSED") << "); lost "
              << (lost ? std::to_string(*lost) : "unknown") << " (must be 0)\n";
    return gaps.size() == static_cast<std::size_t>(o.trials) && lost && *lost == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-failover: writer stall when the serving broker is killed"};
    options o;
    app.add_option("--trials", o.trials, "kills of the serving broker")->check(CLI::Range(1, 10000));
    app.add_option("--reps", o.trials, "same as --trials");
    app.add_option("--heartbeat-ms", o.heartbeat_ms, "cluster heartbeat")->check(CLI::Range(10, 60000));
    app.add_option("--steady-ms", o.steady_ms, "steady writes before each kill")->check(CLI::Range(0, 60000));
    app.add_option("--value-bytes", o.value_bytes, "value size")->check(CLI::Range(1, 1000000));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    app.add_option("--log-dir", o.log_dir, "keep the broker logs in this directory (default: removed at exit)");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-failover", [&] {
        return run(o);
    });
}
