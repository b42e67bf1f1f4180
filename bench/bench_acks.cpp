// File: bench_acks.cpp
// starbus-bench-acks: acknowledged operational changes per second through a
// real cluster with 0, 1 and 2 replicas following (1-, 2- and 3-broker
// clusters, the cluster's default ack rule "replica"), each with fsync
// "batch" (fdatasync per reactor batch, the default) and "never" (to show
// the fsync cost). Per repetition:
//   - throughput: client::set_many of N changes (16-byte keys, 100-byte
//     values), pipelined up to the window;
//   - latency: client::set one at a time, p50/p99 in microseconds.
// Baseline in the same run: raw libzmq DEALER -> ROUTER echo in a separate
// process (like the broker), frames the size of an encoded set_request,
// pipelined with the same window, and one at a time for latency.
//
// The same binary, started with --serve-echo, is the echo process.
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/common/codec.hpp>

#include "bench_support.hpp"

namespace {

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;

struct options {
    int reps = 5;
    std::size_t changes = 20000;
    std::size_t latency_requests = 2000;
    std::size_t key_bytes = 16;
    std::size_t value_bytes = 100;
    std::size_t window = 1000;
    std::string replicas = "0,1,2";
    std::string fsync = "batch,never";
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

// ---- one cluster configuration ----

struct config_result {
    std::string label;
    std::size_t replicas = 0;
    std::string fsync;
    std::vector<double> rate, p50, p99;  // starbus, per repetition
    std::vector<double> raw_rate, raw_p50, raw_p99;
    std::string failure;
};

config_result measure_config(const options& o, const std::string& broker_path, const std::string& echo_endpoint,
                             std::size_t replicas, const std::string& fsync) {
    config_result out;
    out.replicas = replicas;
    out.fsync = fsync;
    out.label =
        std::to_string(replicas + 1) + " broker(s), " + std::to_string(replicas) + " replica(s), fsync " + fsync;
    cluster_settings settings;
    settings.brokers = replicas + 1;
    settings.heartbeat_ms = o.heartbeat_ms;
    settings.fsync = fsync;
    bench_cluster cluster(broker_path, settings);
    cluster.start_all();
    std::cout << "\n== " << out.label << " (" << cluster.describe() << ")\n" << std::flush;
    if (!cluster.wait_settled(0, std::chrono::seconds(30))) {
        out.failure = "the cluster did not settle within 30 s (A active, the others passive)";
        std::cerr << out.failure << "\n" << cluster.log_tail();
        return out;
    }
    client_options co;
    co.cluster = cluster.config();
    co.window = o.window;
    client c(co);
    raw_dealer raw(echo_endpoint);

    // A frame the size of a real set_request (16-byte key, 100-byte value).
    set_request sample;
    sample.request_id = 1;
    sample.client_id = 0x1234567890abcdefULL;
    sample.key = make_key("x", 0, o.key_bytes);
    sample.value = make_value('v', o.value_bytes);
    const std::string raw_frame = encode(sample);

    // Warm-up: a connected client and a connected raw DEALER.
    for (int i = 0; i < 20; ++i)
        static_cast<void>(c.set("bench.warmup", "x", change_class::operational, std::chrono::seconds(5)));
    static_cast<void>(raw.one_at_a_time(100, raw_frame, clock::now() + std::chrono::seconds(10)));

    table t({"rep", "starbus changes/s", "set() p50 us", "set() p99 us", "raw rt/s", "raw p50 us", "raw p99 us"});
    for (int rep = 0; rep < o.reps; ++rep) {
        const auto until = clock::now() + std::chrono::seconds(o.max_seconds);
        // Raw baseline first, then starbus, within seconds of each other.
        const double raw_rate = raw.pipelined(o.changes, o.window, raw_frame, until);
        const auto raw_lat = raw.one_at_a_time(o.latency_requests, raw_frame, until);

        std::vector<change_request> batch;
        batch.reserve(o.changes);
        const std::string prefix = "r" + std::to_string(rep) + "k";
        for (std::size_t i = 0; i < o.changes; ++i)
            batch.push_back(change_request::put(make_key(prefix, i, o.key_bytes), make_value('v', o.value_bytes)));
        const auto t0 = clock::now();
        const result r = c.set_many(batch, until);
        const double elapsed = seconds_since(t0);
        if (!r.ok()) {
            out.failure = "set_many failed in repetition " + std::to_string(rep + 1) + ": " + r.message;
            std::cerr << out.failure << "\n" << cluster.log_tail();
            break;
        }
        const double rate = static_cast<double>(o.changes) / elapsed;

        std::vector<double> lat;
        lat.reserve(o.latency_requests);
        const std::string lprefix = "r" + std::to_string(rep) + "l";
        const std::string value = make_value('v', o.value_bytes);
        for (std::size_t i = 0; i < o.latency_requests; ++i) {
            const std::string key = make_key(lprefix, i, o.key_bytes);
            const auto s0 = clock::now();
            const result one = c.set(key, value, change_class::operational, until);
            if (!one.ok()) {
                out.failure = "set failed in repetition " + std::to_string(rep + 1) + ": " + one.message;
                break;
            }
            lat.push_back(std::chrono::duration<double, std::micro>(clock::now() - s0).count());
        }
        if (!out.failure.empty()) break;

        out.rate.push_back(rate);
        out.p50.push_back(percentile(lat, 50));
        out.p99.push_back(percentile(lat, 99));
        out.raw_rate.push_back(raw_rate);
        out.raw_p50.push_back(percentile(raw_lat, 50));
        out.raw_p99.push_back(percentile(raw_lat, 99));
        t.add({std::to_string(rep + 1), fmt(rate), fmt(out.p50.back()), fmt(out.p99.back()), fmt(raw_rate),
               fmt(out.raw_p50.back()), fmt(out.raw_p99.back())});
    }
    t.print();
    return out;
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

    const std::string echo_endpoint =
        "tcp://" + test::random_loopback_host() + ":" + std::to_string(test::random_base_port());
    tracked_process echo({self_path(), "--serve-echo", "--endpoint", echo_endpoint}, "/dev/null");

    std::cout << "starbus-bench-acks: " << o.changes << " changes per set_many (" << o.key_bytes << "-byte keys, "
              << o.value_bytes << "-byte values), window " << o.window << "; " << o.latency_requests
              << " single set() for latency; " << o.reps << " repetitions; raw echo process at " << echo_endpoint
              << "\n";

    std::cout << "fdatasync after a 256-byte append, on the data directories' filesystem ($TMPDIR): median "
              << fmt(fdatasync_micros(), 0) << " us\n";

    std::vector<config_result> results;
    for (const auto& f : fsyncs)
        for (auto n : replica_counts) results.push_back(measure_config(o, broker_path, echo_endpoint, n, f));

    std::cout << "\n";
    table sum({"configuration", "changes/s median", "min", "max", "raw rt/s median", "ratio", "set() p50 us", "p99 us",
               "raw p50 us", "raw p99 us"});
    for (const auto& r : results) {
        if (r.rate.empty()) {
            sum.add({r.label, "failed", "", "", "", "", "", "", "", ""});
            continue;
        }
        const summary s = summarize(r.rate), raw = summarize(r.raw_rate);
        sum.add({r.label, fmt(s.median), fmt(s.min), fmt(s.max), fmt(raw.median), fmt(s.median / raw.median, 3),
                 fmt(summarize(r.p50).median), fmt(summarize(r.p99).median), fmt(summarize(r.raw_p50).median),
                 fmt(summarize(r.raw_p99).median)});
    }
    sum.print();
    std::cout << "\n";
    for (const auto& r : results) {
        if (r.rate.empty()) {
            std::cout << "acks: " << r.label << ": FAILED: " << r.failure << "\n";
            continue;
        }
        const summary s = summarize(r.rate), raw = summarize(r.raw_rate);
        std::cout << "acks: " << r.label << ": " << fmt(s.median) << " changes/s (median of " << r.rate.size()
                  << "), raw echo " << fmt(raw.median) << " rt/s, ratio " << fmt(s.median / raw.median, 3)
                  << "; set() p50 " << fmt(summarize(r.p50).median) << " us, p99 " << fmt(summarize(r.p99).median)
                  << " us (raw p50 " << fmt(summarize(r.raw_p50).median) << " us)\n";
    }
    // The fsync cost: the same replica count with and without fdatasync.
    for (auto n : replica_counts) {
        const config_result* with = nullptr;
        const config_result* without = nullptr;
        for (const auto& r : results) {
            if (r.replicas != n || r.rate.empty()) continue;
            if (r.fsync == "batch") with = &r;
            if (r.fsync == "never") without = &r;
        }
        if (!with || !without) continue;
        std::cout << "acks: fsync cost with " << n << " replica(s): " << fmt(summarize(with->rate).median)
                  << " changes/s with fsync batch vs " << fmt(summarize(without->rate).median) << " with never (x"
                  << fmt(summarize(without->rate).median / summarize(with->rate).median, 2) << "); set() p50 "
                  << fmt(summarize(with->p50).median) << " vs " << fmt(summarize(without->p50).median) << " us\n";
    }
    for (const auto& r : results)
        if (!r.failure.empty()) return 1;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-acks: acknowledged changes per second, against a raw libzmq DEALER/ROUTER echo"};
    options o;
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--changes", o.changes, "changes per set_many")->check(CLI::Range(1, 10000000));
    app.add_option("--latency-requests", o.latency_requests, "single set() calls for the latency figure")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--key-bytes", o.key_bytes, "key size")->check(CLI::Range(8, 1024));
    app.add_option("--value-bytes", o.value_bytes, "value size")->check(CLI::Range(1, 1000000));
    app.add_option("--window", o.window, "requests in flight")->check(CLI::Range(1, 1000000));
    app.add_option("--replicas", o.replicas, "comma-separated replica counts (cluster size - 1)");
    app.add_option("--fsync", o.fsync, "comma-separated fsync modes: batch, never");
    app.add_option("--heartbeat-ms", o.heartbeat_ms, "cluster heartbeat")->check(CLI::Range(10, 60000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of one repetition")->check(CLI::Range(1, 3600));
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
