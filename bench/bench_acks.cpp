// File: bench_acks.cpp
// starbus-bench-acks: acknowledged operational changes and acknowledged bus
// publishes per second through a real cluster with 0, 1 and 2 replicas
// following (1-, 2- and 3-broker clusters), for each ack mode ("local",
// "replica", "all"), each with fsync "batch" (fdatasync per reactor batch,
// the default) and "never" (to show the fsync cost). Per repetition:
//   - changes: client::set_many of N changes (16-byte keys, 100-byte
//     values), pipelined up to the window;
//   - publishes: N client::publish_async (100-byte payloads) + flush; with
//     the default bus retention a publish is a logged, replicated change,
//     acknowledged per the ack mode like a set;
//   - latency: client::set one at a time, p50/p99 in microseconds.
// The ack modes of one replica count and fsync mode run on clusters started
// together and are measured in rotating order within each repetition, so the
// ratio to "local" compares runs made under the same machine load.
// Baseline in the same run: raw libzmq DEALER -> ROUTER echo in a separate
// process (like the broker), frames the size of an encoded set_request,
// pipelined with the same window, and one at a time for latency.
//
// The same binary, started with --serve-echo, is the echo process.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/wire/codec.hpp>

#include "bench_support.hpp"

namespace {

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;

struct options {
    int reps = 5;
    std::size_t changes = 20000;
    std::size_t publishes = 20000;
    std::size_t latency_requests = 2000;
    std::size_t key_bytes = 16;
    std::size_t value_bytes = 100;
    std::size_t window = 1000;
    std::string replicas = "0,1,2";
    std::string fsync = "batch,never";
    std::string acks = "local,replica,all";
    std::string what = "changes,publishes";
    std::string security = "none";  // none, curve, or none,curve (each ack mode on a cluster of each)
    std::string scrape = "0";       // ms between scrapes of /metrics, a list: 0 (none), 100, or 0,100
    int heartbeat_ms = 100;
    int max_seconds = 120;
    std::string broker;
};

// ---- the echo helper process ----

int serve_echo(const std::string& endpoint) {
    const pid_t parent = ::getppid();
    zmq::context_t ctx(1);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    // The same settings as the broker's request socket.
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::sndhwm, 100000);
    router.set(zmq::sockopt::rcvhwm, 100000);
    router.bind(endpoint);
    const auto until = clock::now() + helper_lifetime;
    while (!parent_gone(parent) && clock::now() < until) {
        zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, milliseconds(100)) <= 0) continue;
        for (int i = 0; i < 4096; ++i) {
            zmq::message_t identity, body;
            if (!router.recv(identity, zmq::recv_flags::dontwait)) break;
            if (!identity.more() || !router.recv(body, zmq::recv_flags::dontwait)) continue;
            static_cast<void>(router.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait));
            static_cast<void>(router.send(body, zmq::send_flags::dontwait));
        }
    }
    return 0;
}

// ---- the raw baseline's client side ----

class raw_dealer {
  public:
    explicit raw_dealer(const std::string& endpoint) : _ctx(1), _dealer(_ctx, zmq::socket_type::dealer) {
        // The same settings as the client library's DEALER.
        _dealer.set(zmq::sockopt::linger, 0);
        _dealer.set(zmq::sockopt::sndhwm, 100000);
        _dealer.set(zmq::sockopt::rcvhwm, 100000);
        _dealer.connect(endpoint);
    }

    // Waits for one reply until `until`; false at the deadline.
    bool receive(clock::time_point until) {
        zmq::message_t m;
        while (!_dealer.recv(m, zmq::recv_flags::dontwait)) {
            const auto now = clock::now();
            if (now >= until) return false;
            zmq::pollitem_t item{_dealer.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, std::min(milliseconds(100), std::chrono::ceil<milliseconds>(until - now)));
        }
        return true;
    }

    // n round trips with up to `window` in flight; returns round trips per second (0 on timeout).
    double pipelined(std::size_t n, std::size_t window, const std::string& frame, clock::time_point until) {
        const auto t0 = clock::now();
        std::size_t sent = 0, received = 0;
        while (received < n) {
            while (sent < n && sent - received < window) {
                if (!_dealer.send(zmq::buffer(frame), zmq::send_flags::dontwait)) break;
                ++sent;
            }
            if (!receive(until)) return 0;
            ++received;
            // Drain what is already there before sending more, as a pipelined client does.
            zmq::message_t m;
            while (received < n && _dealer.recv(m, zmq::recv_flags::dontwait)) ++received;
        }
        return static_cast<double>(n) / seconds_since(t0);
    }

    // One round trip at a time; latencies in microseconds (empty on timeout).
    std::vector<double> one_at_a_time(std::size_t n, const std::string& frame, clock::time_point until) {
        std::vector<double> us;
        us.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const auto t0 = clock::now();
            static_cast<void>(_dealer.send(zmq::buffer(frame), zmq::send_flags::none));
            if (!receive(until)) return {};
            us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
        }
        return us;
    }

  private:
    zmq::context_t _ctx;
    zmq::socket_t _dealer;
};

// ---- what one run measures ----

// The workloads asked with --what.
struct selection {
    bool changes = false;    // set_many throughput and single set() latency
    bool publishes = false;  // publish_async throughput
};

selection parse_what(const std::string& text) {
    selection s;
    for (const auto& w : split_list(text)) {
        if (w == "changes") s.changes = true;
        else if (w == "publishes") s.publishes = true;
        else throw std::runtime_error("--what: \"" + w + "\" is not changes or publishes");
    }
    if (!s.changes && !s.publishes) throw std::runtime_error("--what: nothing to measure (changes, publishes)");
    return s;
}

std::vector<std::string> parse_acks(const std::string& text) {
    std::vector<std::string> acks;
    for (const auto& a : split_list(text)) {
        if (a != "local" && a != "replica" && a != "all")
            throw std::runtime_error("--acks: \"" + a + "\" is not local, replica or all");
        if (std::find(acks.begin(), acks.end(), a) == acks.end()) acks.push_back(a);
    }
    if (acks.empty()) throw std::runtime_error("--acks: no ack mode (local, replica, all)");
    return acks;
}

// The ack modes that behave differently with `replicas` replicas, so are
// worth a cluster each: with none, every mode acknowledges on the server's log
// alone (the first one asked stands for all); with one, "all" waits for the
// same replica as "replica". `merged` says what was folded, for the output.
std::vector<std::string> distinct_acks(const std::vector<std::string>& asked, std::size_t replicas,
                                       std::string& merged) {
    const auto has = [&](const char* a) { return std::find(asked.begin(), asked.end(), a) != asked.end(); };
    if (replicas == 0) {
        if (asked.size() > 1)
            merged = "no replica: every ack mode acknowledges on the server's log; measured as \"" + asked.front() +
                     "\" only";
        return {asked.front()};
    }
    if (replicas == 1 && has("replica") && has("all")) {
        merged = "1 replica: ack \"all\" waits for the same replica as \"replica\"; not measured separately";
        std::vector<std::string> out;
        for (const auto& a : asked)
            if (a != "all") out.push_back(a);
        return out;
    }
    return asked;
}

// ---- the workloads of one repetition on one cluster ----

const std::string publish_topic = "bench.acks";

struct rate_outcome {
    double rate = 0;
    std::string failure;  // empty when every request was acknowledged
};

// set_many of o.changes new keys, pipelined up to the client's window.
rate_outcome pipelined_changes(client& c, const options& o, const std::string& prefix, clock::time_point until) {
    std::vector<change_request> batch;
    batch.reserve(o.changes);
    for (std::size_t i = 0; i < o.changes; ++i)
        batch.push_back(change_request::put(make_key(prefix, i, o.key_bytes), make_value('v', o.value_bytes)));
    const auto t0 = clock::now();
    const result r = c.set_many(batch, until);
    if (!r.ok()) return {0, "set_many: " + r.message};
    return {static_cast<double>(o.changes) / seconds_since(t0), ""};
}

// o.publishes messages with publish_async (the window bounds what is in
// flight), then flush: the rate counts only acknowledged publishes.
rate_outcome pipelined_publishes(client& c, const options& o, clock::time_point until) {
    const std::string payload = make_value('p', o.value_bytes);
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < o.publishes; ++i) c.publish_async(publish_topic, payload, until);
    const result r = c.flush(until);
    if (!r.ok()) return {0, "publish_async/flush: " + r.message};
    return {static_cast<double>(o.publishes) / seconds_since(t0), ""};
}

struct latency_outcome {
    std::vector<double> us;
    std::string failure;
};

// o.latency_requests set() calls, one at a time.
latency_outcome single_sets(client& c, const options& o, const std::string& prefix, clock::time_point until) {
    latency_outcome out;
    out.us.reserve(o.latency_requests);
    const std::string value = make_value('v', o.value_bytes);
    for (std::size_t i = 0; i < o.latency_requests; ++i) {
        const std::string key = make_key(prefix, i, o.key_bytes);
        const auto t0 = clock::now();
        const result r = c.set(key, value, change_class::operational, until);
        if (!r.ok()) {
            out.failure = "set: " + r.message;
            return out;
        }
        out.us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    }
    return out;
}

// ---- one ack mode's cluster ----

// Per repetition; a vector is empty when its workload was not selected.
struct ack_series {
    std::string ack;
    std::vector<double> changes, publishes, p50, p99;
    std::string failure;
};

struct ack_cluster {
    std::unique_ptr<bench_cluster> cluster;
    std::unique_ptr<client> c;
    ack_series series;
};

// Starts the brokers only: the clusters of a group settle in parallel.
ack_cluster start_ack_cluster(const options& o, const std::string& broker_path, std::size_t replicas,
                              const std::string& fsync, const std::string& ack, bool curve, int scrape_ms) {
    cluster_settings settings;
    settings.brokers = replicas + 1;
    settings.heartbeat_ms = o.heartbeat_ms;
    settings.fsync = fsync;
    settings.ack = ack;
    settings.curve = curve;
    settings.scrape_ms = scrape_ms;
    ack_cluster a;
    a.cluster = std::make_unique<bench_cluster>(broker_path, settings);
    a.cluster->start_all();
    a.series.ack = ack + (curve ? " curve" : "") + (scrape_ms > 0 ? " scraped" : "");
    return a;
}

// --security: which of none and curve to run.
std::vector<bool> curve_modes(const options& o) {
    std::vector<bool> out;
    for (const auto& s : split_list(o.security)) {
        if (s != "none" && s != "curve") throw std::runtime_error("--security: \"" + s + "\" is not none or curve");
        out.push_back(s == "curve");
    }
    if (out.empty()) throw std::runtime_error("--security: none, curve or none,curve");
    return out;
}

// Waits until A serves and the others follow, then connects and warms up the
// benchmark's client (a change and a publish, so both paths are connected).
bool prepare(ack_cluster& a, const options& o) {
    if (!a.cluster->wait_settled(0, std::chrono::seconds(30))) {
        a.series.failure = "the cluster did not settle within 30 s (A active, the others passive)";
        std::cerr << "ack " << a.series.ack << ": " << a.series.failure << "\n" << a.cluster->log_tail();
        return false;
    }
    client_options co = a.cluster->options();
    co.window = o.window;
    a.c = std::make_unique<client>(co);
    for (int i = 0; i < 20; ++i) {
        static_cast<void>(a.c->set("bench.warmup", "x", change_class::operational, std::chrono::seconds(5)));
        static_cast<void>(a.c->publish(publish_topic, "w", std::chrono::seconds(5)));
    }
    return true;
}

// One repetition of the selected workloads; the figures are kept only when all
// succeeded, so that every series of a cluster has one entry per repetition.
bool measure_once(ack_cluster& a, const options& o, const selection& what, int rep) {
    const auto until = clock::now() + std::chrono::seconds(o.max_seconds);
    const std::string prefix = "r" + std::to_string(rep);
    const auto fail = [&](const std::string& why) {
        a.series.failure = why + " (repetition " + std::to_string(rep + 1) + ")";
        std::cerr << "ack " << a.series.ack << ": " << a.series.failure << "\n" << a.cluster->log_tail();
        return false;
    };
    rate_outcome changes, publishes;
    latency_outcome latency;
    if (what.changes) {
        changes = pipelined_changes(*a.c, o, prefix + "k", until);
        if (!changes.failure.empty()) return fail(changes.failure);
    }
    if (what.publishes) {
        publishes = pipelined_publishes(*a.c, o, until);
        if (!publishes.failure.empty()) return fail(publishes.failure);
    }
    if (what.changes) {
        latency = single_sets(*a.c, o, prefix + "l", until);
        if (!latency.failure.empty()) return fail(latency.failure);
        a.series.changes.push_back(changes.rate);
        a.series.p50.push_back(percentile(latency.us, 50));
        a.series.p99.push_back(percentile(latency.us, 99));
    }
    if (what.publishes) a.series.publishes.push_back(publishes.rate);
    return true;
}

// ---- a group: one replica count and fsync mode, every ack mode ----

struct group_result {
    std::size_t replicas = 0;
    std::string fsync;
    std::string label;
    std::string merged;  // ack modes folded into another (distinct_acks)
    std::vector<double> raw_rate, raw_p50, raw_p99;
    std::vector<ack_series> acks;
};

// The raw baseline of one repetition: pipelined round trips, then one at a time.
bool measure_raw(raw_dealer& raw, const options& o, const std::string& frame, group_result& g) {
    const auto until = clock::now() + std::chrono::seconds(o.max_seconds);
    const double rate = raw.pipelined(o.changes, o.window, frame, until);
    const auto lat = raw.one_at_a_time(o.latency_requests, frame, until);
    if (rate <= 0 || lat.empty()) return false;
    g.raw_rate.push_back(rate);
    g.raw_p50.push_back(percentile(lat, 50));
    g.raw_p99.push_back(percentile(lat, 99));
    return true;
}

// A frame the size of a real set_request (the configured key and value sizes).
std::string raw_frame(const options& o) {
    set_request sample;
    sample.request_id = 1;
    sample.client_id = 0x1234567890abcdefULL;
    sample.key = make_key("x", 0, o.key_bytes);
    sample.value = make_value('v', o.value_bytes);
    return encode(sample);
}

std::string last_or_blank(const std::vector<double>& v) { return v.empty() ? "" : fmt(v.back()); }

// Every ack mode of the group runs on its own cluster, all started together;
// each repetition measures the raw baseline, then every cluster in rotating
// order, so that the ack modes are compared under the same machine load.
group_result measure_group(const options& o, const selection& what, const std::string& broker_path,
                           const std::string& echo_endpoint, std::size_t replicas, const std::string& fsync,
                           const std::vector<std::string>& asked) {
    group_result g;
    g.replicas = replicas;
    g.fsync = fsync;
    g.label = std::to_string(replicas + 1) + " broker(s), " + std::to_string(replicas) + " replica(s), fsync " + fsync;
    std::vector<ack_cluster> clusters;
    for (const auto& ack : distinct_acks(asked, replicas, g.merged))
        for (bool curve : curve_modes(o))
            for (const auto& ms : split_list(o.scrape))
                clusters.push_back(start_ack_cluster(o, broker_path, replicas, fsync, ack, curve, std::stoi(ms)));
    std::cout << "\n== " << g.label << ", ack " << o.acks << " (" << clusters.front().cluster->describe()
              << "; one cluster per ack mode)\n";
    if (!g.merged.empty()) std::cout << "   (" << g.merged << ")\n";
    std::cout << std::flush;
    for (auto& a : clusters) static_cast<void>(prepare(a, o));

    raw_dealer raw(echo_endpoint);
    const std::string frame = raw_frame(o);
    static_cast<void>(raw.one_at_a_time(100, frame, clock::now() + std::chrono::seconds(10)));

    table t({"rep", "run", "changes/s", "publishes/s", "set() p50 us", "set() p99 us"});
    for (int rep = 0; rep < o.reps; ++rep) {
        if (measure_raw(raw, o, frame, g))
            t.add({std::to_string(rep + 1), "raw echo (round trips)", fmt(g.raw_rate.back()), "", fmt(g.raw_p50.back()),
                   fmt(g.raw_p99.back())});
        for (std::size_t k = 0; k < clusters.size(); ++k) {
            ack_cluster& a = clusters[(k + static_cast<std::size_t>(rep)) % clusters.size()];
            if (!a.series.failure.empty() || !measure_once(a, o, what, rep)) continue;
            t.add({std::to_string(rep + 1), "ack " + a.series.ack, last_or_blank(a.series.changes),
                   last_or_blank(a.series.publishes), last_or_blank(a.series.p50), last_or_blank(a.series.p99)});
        }
    }
    t.print();
    for (auto& a : clusters) g.acks.push_back(std::move(a.series));
    return g;
}

// ---- the summary ----

std::string ratio(double a, double b, int decimals = 2) { return a > 0 && b > 0 ? fmt(a / b, decimals) : "-"; }

std::string range(const summary& s) { return s.count ? fmt(s.min) + "-" + fmt(s.max) : ""; }

// The group's "local" series, if it was measured.
const ack_series* local_of(const group_result& g) {
    for (const auto& a : g.acks)
        if (a.ack == "local" && a.failure.empty()) return &a;
    return nullptr;
}

void print_summary_table(const std::vector<group_result>& groups) {
    table sum({"configuration", "run", "changes/s", "min-max", "x raw", "x local", "publishes/s", "min-max", "x raw",
               "x local", "set() p50 us", "p99 us"});
    for (const auto& g : groups) {
        const summary raw = summarize(g.raw_rate);
        sum.add({g.label, "raw echo", fmt(raw.median), range(raw), "", "", "", "", "", "",
                 fmt(summarize(g.raw_p50).median), fmt(summarize(g.raw_p99).median)});
        const ack_series* local = local_of(g);
        for (const auto& a : g.acks) {
            if (!a.failure.empty()) {
                sum.add({g.label, "ack " + a.ack, "failed"});
                continue;
            }
            const summary c = summarize(a.changes), p = summarize(a.publishes);
            const double lc = local ? summarize(local->changes).median : 0;
            const double lp = local ? summarize(local->publishes).median : 0;
            sum.add({g.label, "ack " + a.ack, c.count ? fmt(c.median) : "-", range(c), ratio(c.median, raw.median, 3),
                     ratio(c.median, lc), p.count ? fmt(p.median) : "-", range(p), ratio(p.median, raw.median, 3),
                     ratio(p.median, lp), a.p50.empty() ? "" : fmt(summarize(a.p50).median),
                     a.p99.empty() ? "" : fmt(summarize(a.p99).median)});
        }
    }
    sum.print();
}

// One "acks:" line per cluster measured (bench/run-all.sh collects them).
void print_summary_lines(const std::vector<group_result>& groups) {
    for (const auto& g : groups) {
        const summary raw = summarize(g.raw_rate);
        const ack_series* local = local_of(g);
        for (const auto& a : g.acks) {
            std::cout << "acks: " << g.label << ", ack " << a.ack << ": ";
            if (!a.failure.empty()) {
                std::cout << "FAILED: " << a.failure << "\n";
                continue;
            }
            const auto figure = [&](const char* what, const std::vector<double>& v, const std::vector<double>* base) {
                const summary s = summarize(v);
                std::cout << fmt(s.median) << " " << what << " (median of " << s.count << ", " << range(s)
                          << ") = " << ratio(s.median, raw.median, 3) << " x raw echo";
                if (base && a.ack != "local")
                    std::cout << ", " << ratio(s.median, summarize(*base).median) << " x local";
            };
            bool first = true;
            if (!a.changes.empty()) {
                figure("changes/s", a.changes, local ? &local->changes : nullptr);
                std::cout << "; set() p50 " << fmt(summarize(a.p50).median) << " us, p99 "
                          << fmt(summarize(a.p99).median) << " us";
                first = false;
            }
            if (!a.publishes.empty()) {
                if (!first) std::cout << "; ";
                figure("publishes/s", a.publishes, local ? &local->publishes : nullptr);
            }
            std::cout << " (raw echo " << fmt(raw.median) << " rt/s, p50 " << fmt(summarize(g.raw_p50).median)
                      << " us)\n";
        }
    }
}

// The cost of CURVE: each ack mode with and without it, in the same group.
void print_curve_cost(const std::vector<group_result>& groups) {
    for (const auto& g : groups)
        for (const auto& a : g.acks) {
            if (a.ack.size() < 6 || a.ack.substr(a.ack.size() - 6) != " curve" || !a.failure.empty()) continue;
            const std::string plain = a.ack.substr(0, a.ack.size() - 6);
            for (const auto& b : g.acks) {
                if (b.ack != plain || !b.failure.empty()) continue;
                std::cout << "acks: CURVE cost, " << g.label << ", ack " << plain << ":";
                if (!a.changes.empty() && !b.changes.empty())
                    std::cout << " changes/s " << ratio(summarize(a.changes).median, summarize(b.changes).median)
                              << " x plaintext; set() p50 " << fmt(summarize(a.p50).median) << " vs "
                              << fmt(summarize(b.p50).median) << " us";
                if (!a.publishes.empty() && !b.publishes.empty())
                    std::cout << "; publishes/s "
                              << ratio(summarize(a.publishes).median, summarize(b.publishes).median) << " x plaintext";
                std::cout << "\n";
            }
        }
}

// The cost of a scraper polling /metrics: each ack mode with and without it, in the same group.
void print_scrape_cost(const std::vector<group_result>& groups) {
    for (const auto& g : groups)
        for (const auto& a : g.acks) {
            const std::string suffix = " scraped";
            if (a.ack.size() < suffix.size() || a.ack.substr(a.ack.size() - suffix.size()) != suffix ||
                !a.failure.empty())
                continue;
            const std::string plain = a.ack.substr(0, a.ack.size() - suffix.size());
            for (const auto& b : g.acks) {
                if (b.ack != plain || !b.failure.empty() || a.changes.empty() || b.changes.empty()) continue;
                std::cout << "acks: scraper cost, " << g.label << ", ack " << plain << ": changes/s "
                          << ratio(summarize(a.changes).median, summarize(b.changes).median)
                          << " x unscraped; set() p50 " << fmt(summarize(a.p50).median) << " vs "
                          << fmt(summarize(b.p50).median) << " us\n";
            }
        }
}

// The fsync cost: the same replica count and ack mode with and without fdatasync.
void print_fsync_cost(const std::vector<group_result>& groups) {
    const auto find = [&](std::size_t replicas, const std::string& fsync, const std::string& ack) -> const ack_series* {
        for (const auto& g : groups)
            if (g.replicas == replicas && g.fsync == fsync)
                for (const auto& a : g.acks)
                    if (a.ack == ack && a.failure.empty() && !a.changes.empty()) return &a;
        return nullptr;
    };
    for (const auto& g : groups) {
        if (g.fsync != "batch") continue;
        for (const auto& a : g.acks) {
            const ack_series* with = find(g.replicas, "batch", a.ack);
            const ack_series* without = find(g.replicas, "never", a.ack);
            if (!with || !without) continue;
            const double w = summarize(with->changes).median, wo = summarize(without->changes).median;
            std::cout << "acks: fsync cost with " << g.replicas << " replica(s), ack " << a.ack << ": " << fmt(w)
                      << " changes/s with fsync batch vs " << fmt(wo) << " with never (x" << ratio(wo, w)
                      << "); set() p50 " << fmt(summarize(with->p50).median) << " vs "
                      << fmt(summarize(without->p50).median) << " us\n";
        }
    }
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    std::vector<std::size_t> replica_counts;
    for (const auto& r : split_list(o.replicas)) {
        const int n = std::stoi(r);
        if (n < 0 || n > 25) throw std::runtime_error("--replicas: " + r + " is not a count from 0 to 25");
        replica_counts.push_back(static_cast<std::size_t>(n));
    }
    const std::vector<std::string> fsyncs = split_list(o.fsync);
    for (const auto& f : fsyncs)
        if (f != "batch" && f != "never") throw std::runtime_error("--fsync: \"" + f + "\" is not batch or never");
    const std::vector<std::string> acks = parse_acks(o.acks);
    const selection what = parse_what(o.what);

    const std::string echo_endpoint =
        "tcp://" + test::random_loopback_host() + ":" + std::to_string(test::random_base_port());
    tracked_process echo({self_path(), "--serve-echo", "--endpoint", echo_endpoint}, "/dev/null");

    std::cout << "starbus-bench-acks: " << o.changes << " changes per set_many (" << o.key_bytes << "-byte keys, "
              << o.value_bytes << "-byte values), " << o.publishes << " publish_async + flush (" << o.value_bytes
              << "-byte payloads, default bus retention), window " << o.window << "; " << o.latency_requests
              << " single set() for latency; ack modes " << o.acks << "; measuring " << o.what << "; " << o.reps
              << " repetitions; raw echo process at " << echo_endpoint << "\n";

    std::cout << "fdatasync after a 256-byte append, on the data directories' filesystem ($TMPDIR): median "
              << fmt(fdatasync_micros(), 0) << " us\n";

    std::vector<group_result> groups;
    for (const auto& f : fsyncs)
        for (auto n : replica_counts) groups.push_back(measure_group(o, what, broker_path, echo_endpoint, n, f, acks));

    std::cout << "\n";
    print_summary_table(groups);
    std::cout << "\n";
    print_summary_lines(groups);
    print_curve_cost(groups);
    print_scrape_cost(groups);
    if (what.changes) print_fsync_cost(groups);
    for (const auto& g : groups) {
        if (g.raw_rate.empty()) return 1;
        for (const auto& a : g.acks)
            if (!a.failure.empty()) return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "starbus-bench-acks: acknowledged changes and publishes per second, per ack mode, against a raw libzmq "
        "DEALER/ROUTER echo"};
    options o;
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--changes", o.changes, "changes per set_many")->check(CLI::Range(1, 10000000));
    app.add_option("--publishes", o.publishes, "publish_async calls per repetition")->check(CLI::Range(1, 10000000));
    app.add_option("--latency-requests", o.latency_requests, "single set() calls for the latency figure")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--key-bytes", o.key_bytes, "key size")->check(CLI::Range(8, 1024));
    app.add_option("--value-bytes", o.value_bytes, "value size")->check(CLI::Range(1, 1000000));
    app.add_option("--window", o.window, "requests in flight")->check(CLI::Range(1, 1000000));
    app.add_option("--replicas", o.replicas, "comma-separated replica counts (cluster size - 1)");
    app.add_option("--fsync", o.fsync, "comma-separated fsync modes: batch, never");
    app.add_option("--acks", o.acks, "comma-separated ack modes: local, replica, all (one cluster each)");
    app.add_option("--scrape", o.scrape,
                   "ms between GETs of every broker's /metrics, a list: 0 (no scraper), 100, or 0,100 (each ack mode "
                   "on a cluster of each)");
    app.add_option("--security", o.security, "none, curve, or none,curve (each ack mode on a cluster of each)");
    app.add_option("--what", o.what, "comma-separated workloads: changes (set_many + set latency), publishes");
    app.add_option("--heartbeat-ms", o.heartbeat_ms, "cluster heartbeat")->check(CLI::Range(10, 60000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of one repetition on one cluster")
        ->check(CLI::Range(1, 3600));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    bool echo_mode = false;
    std::string endpoint;
    app.add_flag("--serve-echo", echo_mode, "internal: be the raw echo process")->group("");
    app.add_option("--endpoint", endpoint, "internal")->group("");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-acks", [&] {
        if (echo_mode) return serve_echo(endpoint);
        return run(o);
    });
}
