// File: bench_growth.cpp
// starbus-bench-growth: the curves of issue 13's "Growth" goal, not one point.
// Three parts (--what), each a table per curve and a verdict per curve that
// compares each step's cost ratio with linear (growth_verdict.hpp):
//
//   keys   for 10 K, 100 K and 1 M keys (--keys; 16-byte keys, 100-byte
//          values), on a fresh 1-broker cluster (fsync batch) per repetition:
//          - memory per key: A's VmRSS after loading the keys minus its VmRSS
//            empty (settled, before the load), over N; and the data
//            directory's bytes over N (with the snapshot and log sizes: what
//            start-up reads);
//          - start-up: SIGTERM A (clean stop), start it on the same data
//            directory, time until its request port accepts connections (the
//            replica is recovered: the broker binds after reading it back) and
//            until a fresh client's set() is acknowledged (serving; this adds
//            the broker's one-expiry wait for a server it might follow); then
//            the same after SIGKILL;
//          - a full resync: A's data directory moves to A of a 2-broker
//            cluster; A starts, then B with an empty data directory; timed
//            from B's start until B reports itself passive (a synchronised
//            replica) at A's seq (so it includes A's election, one expiry);
//          and the load itself (keys/s of the set_many that loads them).
//          With --baseline-broker, every repetition runs both brokers, in
//          rotating order, and the summary gives their ratios.
//   bus    delivered messages/s against the subscriber count (1, 10, 100:
//          --subscribers), one publisher, through the raw XSUB/XPUB proxy (the
//          baseline, as in starbus-bench-bus), a starbus broker without a bus
//          log (best effort) and one with the default retention (growth_fanout.hpp).
//   acks   acknowledged changes/s against the value size (100 B, 1 KiB,
//          64 KiB: --value-sizes) with 1 replica, ack replica, fsync batch:
//          starbus-bench-acks run once per size (it measures its raw
//          DEALER/ROUTER echo baseline at the same frame size).
//
// The same binary, started with --serve-proxy, is the proxy process.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <starbus/client/client.hpp>

#include "bench_support.hpp"
#include "growth_fanout.hpp"
#include "growth_verdict.hpp"

namespace {

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct options {
    int reps = 5;
    int large_reps = 0;  // repetitions for 1 M keys and more (0: --reps)
    std::string what = "keys,bus,acks";
    std::string keys = "10000,100000,1000000";
    std::size_t key_bytes = 16;
    std::size_t value_bytes = 100;
    std::size_t load_batch = 20000;  // changes per set_many while loading
    int rewrites = 0;                // after the load, every key written again this many times (an update load)
    std::size_t window = 1000;
    std::string subscribers = "1,10,100";
    std::string retain = "0,100000";  // [bus] retain_messages of each starbus cluster of the bus curve
    fanout_settings fanout;
    std::string value_sizes = "100,1024,65536";
    std::size_t acks_bytes = 64 << 20;  // bytes of values per starbus-bench-acks repetition (changes = this / size)
    int max_seconds = 600;              // time limit of one step (a load, a restart, a resync)
    std::string broker;
    std::string baseline_broker;
};

std::vector<std::size_t> parse_sizes(const std::string& text, const char* flag) {
    std::vector<std::size_t> out;
    for (const auto& item : split_list(text)) {
        const unsigned long long n = std::stoull(item);
        if (n == 0 || n > 100000000ULL) throw std::runtime_error(std::string(flag) + ": " + item + " is out of range");
        out.push_back(static_cast<std::size_t>(n));
    }
    if (out.empty()) throw std::runtime_error(std::string(flag) + ": no size given");
    std::sort(out.begin(), out.end());
    return out;
}

double median_of(const std::vector<double>& v) { return summarize(v).median; }

// ---- keys: memory, disk, start-up, resync ----

// One repetition of one key count on one broker program; a figure < 0 was not measured.
struct keys_sample {
    double rss_empty = -1, rss_loaded = -1, rss_replica = -1;  // bytes
    double disk = -1, snapshot = -1, log = -1;                 // bytes of A's data directory after the load
    double load_s = -1;
    double term_stop_s = -1, term_recovered_s = -1, term_serving_s = -1;
    double kill_recovered_s = -1, kill_serving_s = -1;
    double resync_s = -1;
    std::string failure;
};

// The figures of one broker program at one key count, one entry per repetition.
struct keys_series {
    std::map<std::string, std::vector<double>> v;
    std::vector<std::string> failures;
    void add(const keys_sample& s) {
        if (!s.failure.empty()) {
            failures.push_back(s.failure);
            return;
        }
        const auto put = [&](const char* name, double x) {
            if (x >= 0) v[name].push_back(x);
        };
        put("rss_empty", s.rss_empty);
        put("rss_loaded", s.rss_loaded);
        put("rss_replica", s.rss_replica);
        put("disk", s.disk);
        put("snapshot", s.snapshot);
        put("log", s.log);
        put("load_s", s.load_s);
        put("term_stop_s", s.term_stop_s);
        put("term_recovered_s", s.term_recovered_s);
        put("term_serving_s", s.term_serving_s);
        put("kill_recovered_s", s.kill_recovered_s);
        put("kill_serving_s", s.kill_serving_s);
        put("resync_s", s.resync_s);
        if (s.rss_loaded >= 0 && s.rss_empty >= 0) v["mem_delta"].push_back(s.rss_loaded - s.rss_empty);
        if (s.rss_replica >= 0) v["replica_delta"].push_back(s.rss_replica - s.rss_empty);
    }
    [[nodiscard]] double median(const std::string& name) const {
        auto it = v.find(name);
        return it == v.end() || it->second.empty() ? -1 : median_of(it->second);
    }
};

std::uint64_t file_bytes(const std::filesystem::path& p) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(p, ec);
    return ec ? 0 : n;
}

// Seconds from now until `ready` holds (polled every `every`), or -1 at `limit`.
double time_until(const std::function<bool()>& ready, seconds limit, milliseconds every) {
    const auto t0 = clock::now();
    const bool ok = test::wait_until(ready, limit, every);
    return ok ? seconds_since(t0) : -1;
}

// After broker 0 was started at `t0`: seconds until its request port accepts (recovered), and until a
// fresh client's set() is acknowledged (serving). -1 for a step that did not happen within `limit`.
std::pair<double, double> time_restart(bench_cluster& cluster, clock::time_point t0, seconds limit) {
    const std::string endpoint = cluster.config().brokers[0].request_endpoint();
    double recovered = -1, serving = -1;
    if (test::wait_until([&] { return tcp_accepts(endpoint); }, limit, milliseconds(2)))
        recovered = seconds_since(t0);
    else
        return {recovered, serving};
    client c(cluster.options());
    if (test::wait_until(
            [&] { return c.set("growth.probe", "x", change_class::operational, milliseconds(500)).ok(); }, limit,
            milliseconds(1)))
        serving = seconds_since(t0);
    return {recovered, serving};
}

// Loads n keys through one client, `batch` changes per set_many, then writes them all again o.rewrites
// times; returns the seconds, or -1 on failure.
double load_keys(bench_cluster& cluster, const options& o, std::size_t n, std::string& failure) {
    client_options co = cluster.options();
    co.window = o.window;
    client c(co);
    const auto until = clock::now() + seconds(o.max_seconds);
    const auto t0 = clock::now();
    std::vector<change_request> batch;
    for (int round = 0; round <= o.rewrites; ++round) {
    const std::string value = make_value(static_cast<char>('a' + round % 26), o.value_bytes);
    for (std::size_t done = 0; done < n;) {
        batch.clear();
        const std::size_t m = std::min(o.load_batch, n - done);
        for (std::size_t i = 0; i < m; ++i) batch.push_back(change_request::put(make_key("g", done + i, o.key_bytes), value));
        const result r = c.set_many(batch, until);
        if (!r.ok()) {
            failure = "loading key " + std::to_string(done) + "..: " + r.message;
            return -1;
        }
        done += m;
    }
    }
    return seconds_since(t0);
}

keys_sample measure_keys_once(const options& o, const std::string& broker_path, std::size_t n) {
    keys_sample s;
    // A 1-broker cluster for the load and the restarts: a broker of a larger cluster that restarts with
    // its peers silent may not serve (the cold-start rule: it must hear everyone), which would time the
    // peers, not the start-up.
    cluster_settings settings;
    settings.brokers = 1;
    settings.heartbeat_ms = 100;
    settings.fsync = "batch";
    bench_cluster cluster(broker_path, settings);
    const seconds limit(o.max_seconds);
    const auto fail = [&](bench_cluster& c, const std::string& why) {
        s.failure = why;
        std::cerr << "keys " << n << ": " << why << "\n" << c.log_tail();
        return s;
    };
    cluster.start(0);
    if (!cluster.wait_settled(0, seconds(30))) return fail(cluster, "A did not become active within 30 s");
    s.rss_empty = static_cast<double>(resident_bytes(cluster.pid(0)));

    std::string failure;
    s.load_s = load_keys(cluster, o, n, failure);
    if (s.load_s < 0) return fail(cluster, failure);
    const auto before = cluster.status_of(0, seconds(5));
    if (!before) return fail(cluster, "A did not answer status after the load");
    s.rss_loaded = static_cast<double>(resident_bytes(cluster.pid(0)));
    s.disk = static_cast<double>(directory_bytes(cluster.data_dir(0)));
    s.snapshot = static_cast<double>(file_bytes(cluster.data_dir(0) / "snapshot"));
    s.log = static_cast<double>(file_bytes(cluster.data_dir(0) / "log"));

    // A clean stop, then a restart on the same data.
    auto t0 = clock::now();
    if (!cluster.stop(0, limit)) return fail(cluster, "A did not stop within the limit after SIGTERM");
    s.term_stop_s = seconds_since(t0);
    t0 = clock::now();
    cluster.start(0);
    std::tie(s.term_recovered_s, s.term_serving_s) = time_restart(cluster, t0, limit);
    if (s.term_serving_s < 0) return fail(cluster, "A did not serve again after a SIGTERM restart");
    const auto after = cluster.status_of(0, seconds(5));
    if (!after || after->seq < before->seq)
        return fail(cluster, "A came back at seq " + std::to_string(after ? after->seq : 0) + ", below " +
                                 std::to_string(before->seq));

    // A crash, then a restart on the same data.
    cluster.kill(0);
    t0 = clock::now();
    cluster.start(0);
    std::tie(s.kill_recovered_s, s.kill_serving_s) = time_restart(cluster, t0, limit);
    if (s.kill_serving_s < 0) return fail(cluster, "A did not serve again after a SIGKILL restart");
    const auto server = cluster.status_of(0, seconds(5));
    if (!server) return fail(cluster, "A did not answer status before the resync");
    if (!cluster.stop(0, limit)) return fail(cluster, "A did not stop within the limit after SIGTERM");

    // A full resync: the loaded data directory becomes A's in a 2-broker cluster, A starts and waits to
    // hear B (the cold-start rule), then B starts empty; timed from B's start until B says it is passive
    // (a synchronised replica) at A's seq. So it includes B's start and A's election, about one expiry.
    cluster_settings pair_settings = settings;
    pair_settings.brokers = 2;
    bench_cluster pair(broker_path, pair_settings);
    std::filesystem::rename(cluster.data_dir(0), pair.data_dir(0));
    pair.start(0);
    if (!test::wait_until([&] { return tcp_accepts(pair.config().brokers[0].request_endpoint()); }, limit,
                          milliseconds(5)))
        return fail(pair, "A did not start on the loaded data directory in the 2-broker cluster");
    t0 = clock::now();
    pair.start(1);
    s.resync_s = time_until(
        [&] {
            const auto b = pair.status_of(1, milliseconds(200));
            return b && b->state == broker_state::passive && b->seq >= server->seq && b->pending == 0;
        },
        limit, milliseconds(5));
    if (s.resync_s < 0) return fail(pair, "B did not become a synchronised replica within the limit");
    s.rss_replica = static_cast<double>(resident_bytes(pair.pid(1)));
    return s;
}

struct broker_program {
    std::string label;  // "starbus" or "baseline"
    std::string path;
};

std::string mib(double bytes) { return bytes < 0 ? "-" : fmt(bytes / (1024.0 * 1024.0), 1); }
std::string per_key(double bytes, std::size_t n) { return bytes < 0 ? "-" : fmt(bytes / static_cast<double>(n), 0); }
std::string ms(double s) { return s < 0 ? "-" : fmt(s * 1000.0, 0); }

void run_keys(const options& o, const std::vector<broker_program>& programs) {
    const std::vector<std::size_t> sizes = parse_sizes(o.keys, "--keys");
    // series[program][size]
    std::vector<std::vector<keys_series>> series(programs.size(), std::vector<keys_series>(sizes.size()));
    std::cout << "\n== keys: memory, disk, start-up and resync against the key count (" << o.key_bytes
              << "-byte keys, " << o.value_bytes << "-byte values"
              << (o.rewrites > 0 ? ", each written " + std::to_string(o.rewrites + 1) + " times" : std::string())
              << "; 1-broker cluster, fsync batch; the resync in a 2-broker one)\n";
    table runs({"keys", "rep", "broker", "load s", "RSS empty MiB", "RSS loaded MiB", "B/key RSS", "B/key disk",
                "snapshot MiB", "log MiB", "TERM: stop ms", "recovered ms", "serving ms", "KILL: recovered ms",
                "serving ms", "resync ms", "replica B/key"});
    for (std::size_t si = 0; si < sizes.size(); ++si) {
        const std::size_t n = sizes[si];
        const int reps = n >= 1000000 && o.large_reps > 0 ? o.large_reps : o.reps;
        for (int rep = 0; rep < reps; ++rep) {
            for (std::size_t k = 0; k < programs.size(); ++k) {
                const std::size_t pi = (k + static_cast<std::size_t>(rep)) % programs.size();
                const keys_sample s = measure_keys_once(o, programs[pi].path, n);
                series[pi][si].add(s);
                if (!s.failure.empty()) {
                    runs.add({std::to_string(n), std::to_string(rep + 1), programs[pi].label, "FAILED: " + s.failure});
                    continue;
                }
                runs.add({std::to_string(n), std::to_string(rep + 1), programs[pi].label, fmt(s.load_s, 2),
                          mib(s.rss_empty), mib(s.rss_loaded), per_key(s.rss_loaded - s.rss_empty, n),
                          per_key(s.disk, n), mib(s.snapshot), mib(s.log), ms(s.term_stop_s), ms(s.term_recovered_s),
                          ms(s.term_serving_s), ms(s.kill_recovered_s), ms(s.kill_serving_s), ms(s.resync_s),
                          per_key(s.rss_replica - s.rss_empty, n)});
                std::cout << "  " << n << " keys, rep " << rep + 1 << ", " << programs[pi].label << ": load "
                          << fmt(s.load_s, 2) << " s, " << per_key(s.rss_loaded - s.rss_empty, n) << " B/key RSS, "
                          << "recovered " << ms(s.term_recovered_s) << " / " << ms(s.kill_recovered_s)
                          << " ms (TERM/KILL), resync " << ms(s.resync_s) << " ms\n"
                          << std::flush;
            }
        }
    }
    std::cout << "\n";
    runs.print();

    // The medians, one table per curve.
    std::vector<double> xs;
    for (auto n : sizes) xs.push_back(static_cast<double>(n));
    struct curve {
        const char* name;   // series key
        const char* title;  // table title
        bool bytes;         // bytes (per key shown) or seconds (ms shown)
    };
    const std::vector<curve> curves = {
        {"mem_delta", "memory (server RSS loaded - empty)", true},
        {"disk", "data directory on disk", true},
        {"replica_delta", "memory (replica RSS after the resync - empty server)", true},
        {"load_s", "load (set_many, window 1000, rewrites included)", false},
        {"term_recovered_s", "start-up after SIGTERM: recovered (port open)", false},
        {"term_serving_s", "start-up after SIGTERM: serving (set acknowledged)", false},
        {"kill_recovered_s", "start-up after SIGKILL: recovered (port open)", false},
        {"kill_serving_s", "start-up after SIGKILL: serving (set acknowledged)", false},
        {"resync_s", "full resync of an empty replica", false},
    };
    std::vector<std::string> lines;
    for (const auto& c : curves) {
        std::vector<std::string> headers = {"keys"};
        for (const auto& p : programs) {
            headers.push_back(p.label + (c.bytes ? " B/key" : " ms"));
            headers.push_back("min-max");
        }
        if (programs.size() > 1) headers.push_back(programs[0].label + "/" + programs[1].label);
        table t(headers);
        for (std::size_t si = 0; si < sizes.size(); ++si) {
            std::vector<std::string> row = {std::to_string(sizes[si])};
            for (std::size_t pi = 0; pi < programs.size(); ++pi) {
                const auto it = series[pi][si].v.find(c.name);
                const summary m = it == series[pi][si].v.end() ? summary{} : summarize(it->second);
                const double scale = c.bytes ? 1.0 / static_cast<double>(sizes[si]) : 1000.0;
                row.push_back(m.count ? fmt(m.median * scale, c.bytes ? 0 : 1) : "-");
                row.push_back(m.count ? fmt(m.min * scale, c.bytes ? 0 : 1) + "-" + fmt(m.max * scale, c.bytes ? 0 : 1)
                                      : "");
            }
            if (programs.size() > 1) {
                const double a = series[0][si].median(c.name), b = series[1][si].median(c.name);
                row.push_back(a > 0 && b > 0 ? fmt(a / b, 2) : "-");
            }
            t.add(row);
        }
        std::cout << "\n-- " << c.title << "\n";
        t.print();
        for (std::size_t pi = 0; pi < programs.size(); ++pi) {
            std::vector<double> ys;
            for (std::size_t si = 0; si < sizes.size(); ++si) ys.push_back(series[pi][si].median(c.name));
            const std::string verdict = growth_verdict(xs, ys, c.bytes ? "bytes" : "time");
            std::cout << "   " << programs[pi].label << ": " << verdict << "\n";
            lines.push_back("growth: " + std::string(c.title) + " [" + programs[pi].label + "]: " + verdict);
        }
    }
    // What start-up reads: the snapshot and the log after the load.
    std::cout << "\n-- data directory after the load (what start-up reads)\n";
    table files({"keys", "broker", "snapshot MiB", "log MiB", "log / snapshot"});
    for (std::size_t si = 0; si < sizes.size(); ++si)
        for (std::size_t pi = 0; pi < programs.size(); ++pi) {
            const double snap = series[pi][si].median("snapshot"), log = series[pi][si].median("log");
            files.add({std::to_string(sizes[si]), programs[pi].label, mib(snap), mib(log),
                       snap > 0 ? fmt(log / snap, 2) : "no snapshot"});
        }
    files.print();
    for (std::size_t pi = 0; pi < programs.size(); ++pi)
        for (const auto& f : series[pi].back().failures)
            lines.push_back("growth: FAILED [" + programs[pi].label + "]: " + f);
    std::cout << "\n";
    for (const auto& l : lines) std::cout << l << "\n";
    std::cout << std::flush;
}

// ---- bus: delivered messages against subscribers ----

struct bus_cluster {
    std::size_t retain = 0;
    std::unique_ptr<bench_cluster> cluster;
    [[nodiscard]] std::string label() const { return retain == 0 ? "starbus [no log]" : "starbus [log " + std::to_string(retain) + "]"; }
};

void run_bus(const options& o, const std::string& broker_path) {
    const std::vector<std::size_t> ks = parse_sizes(o.subscribers, "--subscribers");
    const std::string host = test::random_loopback_host();
    const int port = test::random_base_port();
    const std::string xsub_ep = "tcp://" + host + ":" + std::to_string(port);
    const std::string xpub_ep = "tcp://" + host + ":" + std::to_string(port + 1);
    tracked_process proxy({self_path(), "--serve-proxy", "--xsub", xsub_ep, "--xpub", xpub_ep, "--hwm",
                           std::to_string(o.fanout.hwm)},
                          "/dev/null");
    std::vector<bus_cluster> clusters;
    for (const auto& item : split_list(o.retain)) {
        cluster_settings settings;
        settings.brokers = 1;
        settings.extra = "\n[bus]\nretain_messages = " + item + "\n";
        bus_cluster c;
        c.retain = std::stoull(item);
        c.cluster = std::make_unique<bench_cluster>(broker_path, settings);
        c.cluster->start_all();
        clusters.push_back(std::move(c));
    }
    for (auto& c : clusters)
        if (!c.cluster->wait_settled(0, seconds(30)))
            throw std::runtime_error("the bus broker did not become active within 30 s:\n" + c.cluster->log_tail());
    std::cout << "\n== bus: delivered messages/s against the subscriber count (" << o.fanout.payload
              << "-byte messages, up to " << o.fanout.messages << " per run and " << o.fanout.max_deliveries
              << " deliveries; raw SUB subscribers, one thread; raw proxy at " << xsub_ep << ")\n";
    std::vector<std::string> labels = {"raw"};
    for (const auto& c : clusters) labels.push_back(c.label());
    // rates[label][k index]: total delivered msgs/s per repetition
    std::map<std::string, std::vector<std::vector<double>>> rates;
    for (const auto& l : labels) rates[l].resize(ks.size());
    table runs({"subscribers", "rep", "run", "published", "received", "lost", "seconds", "delivered msgs/s",
                "per subscriber", "note"});
    for (std::size_t ki = 0; ki < ks.size(); ++ki) {
        const std::size_t k = ks[ki];
        for (int rep = 0; rep < o.reps; ++rep) {
            for (std::size_t v = 0; v < labels.size(); ++v) {
                const std::size_t which = (v + static_cast<std::size_t>(rep)) % labels.size();
                const fanout_outcome r = which == 0 ? run_raw_fanout(o.fanout, k, xsub_ep, xpub_ep)
                                                    : run_starbus_fanout(o.fanout, k, clusters[which - 1].cluster->options());
                rates[labels[which]][ki].push_back(r.total_rate());
                const std::size_t expected = fanout_messages(o.fanout, k) * k;
                runs.add({std::to_string(k), std::to_string(rep + 1), labels[which], std::to_string(r.published),
                          std::to_string(r.received), std::to_string(expected > r.received ? expected - r.received : 0),
                          fmt(r.seconds, 3), fmt(r.total_rate()), fmt(r.total_rate() / static_cast<double>(k)), r.note});
                std::cout << "  " << k << " subscriber(s), rep " << rep + 1 << ", " << labels[which] << ": "
                          << fmt(r.total_rate()) << " delivered msgs/s" << (r.note.empty() ? "" : " [" + r.note + "]")
                          << "\n"
                          << std::flush;
            }
        }
    }
    std::cout << "\n";
    runs.print();
    table sum({"subscribers", "run", "delivered msgs/s", "min-max", "per subscriber", "x raw"});
    for (std::size_t ki = 0; ki < ks.size(); ++ki)
        for (const auto& l : labels) {
            const summary m = summarize(rates[l][ki]);
            const double raw = median_of(rates["raw"][ki]);
            sum.add({std::to_string(ks[ki]), l, fmt(m.median), fmt(m.min) + "-" + fmt(m.max),
                     fmt(m.median / static_cast<double>(ks[ki])), raw > 0 ? fmt(m.median / raw, 2) : "-"});
        }
    std::cout << "\n-- delivered messages/s (total over the subscribers), medians of " << o.reps << "\n";
    sum.print();
    // The cost of delivering a published message to k subscribers: k / total rate. Linear: the total holds.
    std::vector<double> xs;
    for (auto k : ks) xs.push_back(static_cast<double>(k));
    for (const auto& l : labels) {
        std::vector<double> ys;
        for (std::size_t ki = 0; ki < ks.size(); ++ki) {
            const double rate = median_of(rates[l][ki]);
            ys.push_back(rate > 0 ? static_cast<double>(ks[ki]) / rate : -1);
        }
        std::cout << "growth: bus, time per published message against subscribers [" << l
                  << "]: " << growth_verdict(xs, ys, "time") << "\n";
    }
    for (std::size_t ki = 0; ki < ks.size(); ++ki) {
        const double raw = median_of(rates["raw"][ki]);
        for (const auto& l : labels) {
            if (l == "raw") continue;
            const double m = median_of(rates[l][ki]);
            std::cout << "growth: bus, " << ks[ki] << " subscriber(s), " << l << ": " << fmt(m)
                      << " delivered msgs/s (" << fmt(m / static_cast<double>(ks[ki])) << " per subscriber), "
                      << (raw > 0 ? fmt(m / raw, 2) : "-") << " x raw fan-out (" << fmt(raw) << ")\n";
        }
    }
    std::cout << std::flush;
}

// ---- acks: acknowledged changes against the value size ----

// The figures of starbus-bench-acks' "acks: ..., ack replica: ..." summary line.
struct acks_figures {
    double changes = -1, raw = -1, p50 = -1, raw_p50 = -1;
};

std::optional<acks_figures> parse_acks_line(const std::string& out) {
    static const std::regex line(
        R"(acks: [^\n]*ack replica: ([0-9.]+) changes/s[^\n]*set\(\) p50 ([0-9.]+) us[^\n]*\(raw echo ([0-9.]+) rt/s, p50 ([0-9.]+) us\))");
    std::smatch m;
    if (!std::regex_search(out, m, line)) return std::nullopt;
    return acks_figures{std::stod(m[1]), std::stod(m[3]), std::stod(m[2]), std::stod(m[4])};
}

void run_acks(const options& o, const std::string& broker_path) {
    const std::vector<std::size_t> sizes = parse_sizes(o.value_sizes, "--value-sizes");
    const std::string acks = self_dir() + "/starbus-bench-acks";
    require_executable(acks, "starbus-bench-acks");
    std::cout << "\n== acks: acknowledged changes/s against the value size (1 replica, ack replica, fsync batch; "
                 "starbus-bench-acks, "
              << o.reps << " repetitions per size, raw DEALER/ROUTER echo of the same frame size in the same run)\n";
    table t({"value bytes", "changes per rep", "changes/s", "MiB/s", "x raw echo", "set() p50 us", "raw p50 us"});
    std::vector<double> xs, ys, raw_ys;
    std::vector<std::string> lines;
    for (std::size_t v : sizes) {
        const std::size_t changes = std::clamp<std::size_t>(o.acks_bytes / v, 1000, 20000);
        const std::vector<std::string> argv = {acks, "--replicas", "1", "--acks", "replica", "--fsync", "batch",
                                               "--what", "changes", "--value-bytes", std::to_string(v), "--changes",
                                               std::to_string(changes), "--latency-requests", "500", "--reps",
                                               std::to_string(o.reps), "--broker", broker_path};
        std::cout << "  value " << v << " bytes: " << changes << " changes per repetition...\n" << std::flush;
        const test::run_result r = test::run_program(argv, std::chrono::minutes(30));
        const auto f = parse_acks_line(r.out);
        xs.push_back(static_cast<double>(v));
        if (r.exit_code != 0 || !f) {
            t.add({std::to_string(v), std::to_string(changes), "FAILED"});
            lines.push_back("growth: acks, value " + std::to_string(v) + " bytes: FAILED (exit " +
                            std::to_string(r.exit_code) + "): " + r.err.substr(0, 300));
            ys.push_back(-1);
            raw_ys.push_back(-1);
            continue;
        }
        ys.push_back(1.0 / f->changes);
        raw_ys.push_back(1.0 / f->raw);
        t.add({std::to_string(v), std::to_string(changes), fmt(f->changes), fmt(f->changes * static_cast<double>(v) / 1048576.0, 1),
               fmt(f->changes / f->raw, 3), fmt(f->p50), fmt(f->raw_p50)});
        lines.push_back("growth: acks, value " + std::to_string(v) + " bytes: " + fmt(f->changes) +
                        " changes/s (median of " + std::to_string(o.reps) + ") = " + fmt(f->changes / f->raw, 3) +
                        " x raw echo (" + fmt(f->raw) + " rt/s); set() p50 " + fmt(f->p50) + " us (raw " +
                        fmt(f->raw_p50) + " us)");
    }
    std::cout << "\n";
    t.print();
    for (const auto& l : lines) std::cout << l << "\n";
    std::cout << "growth: acks, time per change against value size [starbus]: "
              << growth_verdict(xs, ys, "time", " B") << "\n";
    std::cout << "growth: acks, time per round trip against value size [raw echo]: "
              << growth_verdict(xs, raw_ys, "time", " B") << "\n"
              << std::flush;
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    std::vector<broker_program> programs = {{"starbus", broker_path}};
    if (!o.baseline_broker.empty()) {
        require_executable(o.baseline_broker, "the baseline broker");
        programs.push_back({"baseline", o.baseline_broker});
    }
    bool keys = false, bus = false, acks = false;
    for (const auto& w : split_list(o.what)) {
        if (w == "keys") keys = true;
        else if (w == "bus") bus = true;
        else if (w == "acks") acks = true;
        else throw std::runtime_error("--what: \"" + w + "\" is not keys, bus or acks");
    }
    std::cout << "starbus-bench-growth: " << o.reps << " repetitions"
              << (o.large_reps > 0 ? " (" + std::to_string(o.large_reps) + " at 1 M keys and more)" : "")
              << "; broker " << broker_path
              << (o.baseline_broker.empty() ? "" : "; baseline broker " + o.baseline_broker) << "\n"
              << std::flush;
    if (keys) run_keys(o, programs);
    if (bus) run_bus(o, broker_path);
    if (acks) run_acks(o, broker_path);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-growth: memory, start-up, resync, bus fan-out and acknowledged changes, as curves"};
    options o;
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--large-reps", o.large_reps, "repetitions at 1 M keys and more (default: --reps)")
        ->check(CLI::Range(0, 1000));
    app.add_option("--what", o.what, "comma-separated: keys (memory, disk, start-up, resync), bus, acks");
    app.add_option("--keys", o.keys, "comma-separated key counts");
    app.add_option("--key-bytes", o.key_bytes, "key size")->check(CLI::Range(8, 1024));
    app.add_option("--value-bytes", o.value_bytes, "value size of the loaded keys")->check(CLI::Range(1, 1000000));
    app.add_option("--rewrites", o.rewrites,
                   "after loading the keys, write every key again this many times (an update load: what the log "
                   "holds beyond the state)")
        ->check(CLI::Range(0, 1000));
    app.add_option("--subscribers", o.subscribers, "comma-separated subscriber counts of the bus curve");
    app.add_option("--retain", o.retain, "comma-separated [bus] retain_messages, one 1-broker cluster each (0: no log)");
    app.add_option("--bus-messages", o.fanout.messages, "messages per bus run")->check(CLI::Range(1, 100000000));
    app.add_option("--bus-deliveries", o.fanout.max_deliveries, "messages x subscribers per bus run, at most")
        ->check(CLI::Range(1, 1000000000));
    app.add_option("--size", o.fanout.payload, "bus payload bytes")->check(CLI::Range(1, 1000000));
    app.add_option("--hwm", o.fanout.hwm, "high-water mark of every PUB/SUB socket and the raw proxy")
        ->check(CLI::Range(1, 10000000));
    app.add_option("--value-sizes", o.value_sizes, "comma-separated value sizes of the acks curve");
    app.add_option("--acks-bytes", o.acks_bytes, "value bytes per acks repetition (changes = this / size, 1000-20000)")
        ->check(CLI::Range(1, 1 << 30));
    app.add_option("--max-seconds", o.max_seconds, "time limit of one step (a load, a restart, a resync)")
        ->check(CLI::Range(1, 3600));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    app.add_option("--baseline-broker", o.baseline_broker,
                   "another starbus-broker (e.g. built from main) measured in the same run for the keys curves");
    bool proxy_mode = false;
    std::string xsub, xpub;
    app.add_flag("--serve-proxy", proxy_mode, "internal: be the raw proxy process")->group("");
    app.add_option("--xsub", xsub, "internal")->group("");
    app.add_option("--xpub", xpub, "internal")->group("");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-growth", [&] {
        if (proxy_mode) return serve_pubsub_proxy(xsub, xpub, o.fanout.hwm);
        return run(o);
    });
}
