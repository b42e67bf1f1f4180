// File: bench_peers.cpp
// starbus-bench-peers: the systems a user compares starbus with, measured on
// this machine the way starbus-bench-bus and starbus-bench-acks measure
// starbus (loopback, 100-byte messages, a window of 1,000 in flight, medians
// of repetitions), so that bench/compare.sh can print one table with ratios.
//
//   NATS core        1 publisher -> nats-server -> 1 (and 10) subscribers
//   JetStream R1/R3  acknowledged publishes (window 1,000; one at a time)
//   Redis pub/sub    1 publisher (pipelined PUBLISH) -> redis-server -> 1 subscriber
//   Redis SET+WAIT   SET then WAIT 1 0 with one replica, AOF everysec and always
//   round trips      NATS PING/PONG and Redis PING, one at a time
//
// This file starts the servers (every one on a random loopback address, in a
// temporary directory, stopped at the end: peer_servers.hpp), runs the
// measures (nats_peer.hpp, redis_peer.hpp) in rotating order per repetition
// and prints the medians. See bench/README.md.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

#include "bench_support.hpp"
#include "nats_peer.hpp"
#include "peer_servers.hpp"
#include "redis_peer.hpp"

namespace sb = starbus::bench;
using namespace std::chrono_literals;
using steady = sb::clock;

namespace {

// The workload's sizes (peer_workload.hpp), and what to run.
struct options : sb::peer_workload {
    int reps = 5;
    std::string what = "nats,jetstream,redis";
    std::string nats_server = "nats-server";
    std::string redis_server = "redis-server";
};

// ---- the figures: one series of repetitions per measure ----

struct series {
    std::string unit;
    std::vector<double> values;
};
using figures = std::map<std::string, series>;

void record(figures& f, const std::string& name, const std::string& unit, double value) {
    f[name].unit = unit;
    f[name].values.push_back(value);
}

// ---- the servers ----

int next_port(int& port) { return port++; }

class peers {
  public:
    peers(const options& o, bool nats, bool jetstream, bool redis) : _host(starbus::test::random_loopback_host()) {
        int port = starbus::test::random_base_port();
        const std::filesystem::path dir = _dir.path();
        const auto log = [&](const std::string& name) { return (dir / (name + ".log")).string(); };
        if (nats || jetstream) {
            const std::string server = sb::find_program(o.nats_server, "nats-server");
            // One server for NATS core and JetStream R1 (JetStream does not touch core subjects).
            _nats_single = {_host, next_port(port)};
            _procs.push_back(std::make_unique<sb::server_process>(
                std::vector<std::string>{server, "-a", _host, "-p", std::to_string(_nats_single.port), "-n", "single",
                                         "-js", "-sd", (dir / "nats-single").string()},
                log("nats-single")));
            sb::wait_listening(*_procs.back(), _host, _nats_single.port, 10s);
            if (jetstream) {
                std::vector<int> client_ports, route_ports;
                for (int i = 0; i < 3; ++i) {
                    client_ports.push_back(next_port(port));
                    route_ports.push_back(next_port(port));
                }
                for (int i = 0; i < 3; ++i) {
                    std::string routes;
                    for (int j = 0; j < 3; ++j)
                        if (j != i)
                            routes += (routes.empty() ? "" : ",") + std::string("nats://") + _host + ":" +
                                      std::to_string(route_ports[j]);
                    const std::string name = "r" + std::to_string(i + 1);
                    _procs.push_back(std::make_unique<sb::server_process>(
                        std::vector<std::string>{server, "-a", _host, "-p", std::to_string(client_ports[i]), "-n", name,
                                                 "-js", "-sd", (dir / ("nats-" + name)).string(), "--cluster",
                                                 "nats://" + _host + ":" + std::to_string(route_ports[i]), "--routes",
                                                 routes, "--cluster_name", "starbus-bench-peers"},
                        log("nats-" + name)));
                }
                for (int i = 0; i < 3; ++i)
                    sb::wait_listening(*_procs[_procs.size() - 3 + i], _host, client_ports[i], 10s);
                _nats_cluster = {_host, client_ports[0]};
                sb::create_stream(_nats_single, "BENCH_R1", "bench.r1", 1, 30s);
                sb::create_stream(_nats_cluster, "BENCH_R3", "bench.r3", 3, 60s);
            }
        }
        if (redis) {
            const std::string server = sb::find_program(o.redis_server, "redis-server");
            const auto start_redis = [&](const std::string& name, std::vector<std::string> extra) {
                const sb::endpoint ep{_host, next_port(port)};
                std::filesystem::create_directories(dir / name);
                std::vector<std::string> argv{server,
                                              "--bind",
                                              _host,
                                              "--port",
                                              std::to_string(ep.port),
                                              "--dir",
                                              (dir / name).string(),
                                              "--save",
                                              "",
                                              "--protected-mode",
                                              "no",
                                              "--daemonize",
                                              "no"};
                argv.insert(argv.end(), extra.begin(), extra.end());
                _procs.push_back(std::make_unique<sb::server_process>(argv, log(name)));
                sb::wait_listening(*_procs.back(), _host, ep.port, 10s);
                return ep;
            };
            // Pub/sub and PING: no persistence; no output-buffer limit for a subscriber that lags
            // (the default, 32 MiB, would disconnect it, and the benchmark wants what is delivered).
            _redis_plain =
                start_redis("redis-plain", {"--appendonly", "no", "--client-output-buffer-limit", "pubsub 0 0 0"});
            const std::vector<std::string> aof{"--appendonly", "yes", "--appendfsync", "everysec"};
            _redis_master = start_redis("redis-master", aof);
            auto replica_args = aof;
            replica_args.insert(replica_args.end(), {"--replicaof", _host, std::to_string(_redis_master.port)});
            _redis_replica = start_redis("redis-replica", replica_args);
            sb::redis_wait_ready(_redis_plain, false, 10s);
            sb::redis_wait_ready(_redis_master, true, 30s);
        }
    }

    [[nodiscard]] std::string describe() const {
        std::string s = "peers on " + _host + " in " + _dir.path().string() + ":";
        if (_nats_single.port) s += " nats-server :" + std::to_string(_nats_single.port);
        if (_nats_cluster.port) s += ", nats cluster of 3 (client :" + std::to_string(_nats_cluster.port) + "...)";
        if (_redis_plain.port)
            s += ", redis :" + std::to_string(_redis_plain.port) +
                 ", redis master :" + std::to_string(_redis_master.port) +
                 " + replica :" + std::to_string(_redis_replica.port);
        return s;
    }

    // Servers are stopped before the directory is removed (members are destroyed in reverse order).
    ~peers() {
        for (auto it = _procs.rbegin(); it != _procs.rend(); ++it) (*it)->stop();
    }

    starbus::test::temp_dir _dir;
    std::string _host;
    sb::endpoint _nats_single, _nats_cluster;
    sb::endpoint _redis_plain, _redis_master, _redis_replica;
    std::vector<std::unique_ptr<sb::server_process>> _procs;
};

// ---- one repetition: every measure, in rotating order ----

struct measure {
    std::string name;
    std::function<void(figures&)> run;
};

std::vector<measure> measures(const options& o, peers& p, bool nats, bool jetstream, bool redis,
                              std::uint64_t& key_counter) {
    std::vector<measure> m;
    const auto show = [](const std::string& what, double v, const std::string& unit, const std::string& note = "") {
        std::cout << "    " << what << ": " << sb::fmt(v) << " " << unit << note << "\n" << std::flush;
    };
    if (nats) {
        m.push_back({"nats core", [&, show](figures& f) {
                         std::size_t got = 0;
                         const double one = sb::nats_pubsub(p._nats_single, 1, o.messages, o, got);
                         show("nats core 1->1", one, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, "nats core 1->1 delivered", "msg/s", one);
                         const double fan = sb::nats_pubsub(p._nats_single, o.subscribers, o.fanout_messages, o, got);
                         const std::string label = "nats core 1->" + std::to_string(o.subscribers);
                         show(label, fan, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, label + " delivered", "msg/s", fan);
                         const double ping = sb::nats_ping_p50(p._nats_single, o);
                         show("nats PING p50", ping, "us");
                         record(f, "nats PING p50", "us", ping);
                     }});
    }
    if (jetstream) {
        for (const auto& [label, ep, subject] :
             {std::tuple{std::string("jetstream R1"), &p._nats_single, std::string("bench.r1")},
              std::tuple{std::string("jetstream R3"), &p._nats_cluster, std::string("bench.r3")}}) {
            m.push_back({label, [&, show, label = label, ep = ep, subject = subject](figures& f) {
                             const auto js = sb::jetstream_publish(*ep, subject, o);
                             show(label + " window " + std::to_string(o.window), js.rate, "acked publishes/s");
                             show(label + " one at a time p50", js.p50, "us");
                             record(f, label + " acked publishes", "publishes/s", js.rate);
                             record(f, label + " publish p50", "us", js.p50);
                         }});
        }
    }
    if (redis) {
        m.push_back({"redis pub/sub", [&, show](figures& f) {
                         std::size_t got = 0;
                         const double rate = sb::redis_pubsub(p._redis_plain, o, got);
                         show("redis pub/sub 1->1", rate, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, "redis pub/sub 1->1 delivered", "msg/s", rate);
                         const double ping = sb::redis_ping_p50(p._redis_plain, o);
                         show("redis PING p50", ping, "us");
                         record(f, "redis PING p50", "us", ping);
                     }});
        for (const std::string mode : {"everysec", "always"}) {
            m.push_back({"redis SET+WAIT " + mode, [&, show, mode](figures& f) {
                             const std::vector<sb::endpoint> nodes{p._redis_master, p._redis_replica};
                             sb::redis_set_fsync(nodes, mode);
                             const auto r = sb::redis_set_wait(p._redis_master, o, key_counter);
                             sb::redis_set_fsync(nodes, "everysec");
                             const std::string label = "redis SET+WAIT " + mode;
                             show(label + " window " + std::to_string(o.window), r.rate, "changes/s");
                             show(label + " one at a time p50", r.p50, "us");
                             record(f, label, "changes/s", r.rate);
                             record(f, label + " p50", "us", r.p50);
                         }});
        }
    }
    return m;
}

void print_summary(const figures& f) {
    std::cout << "\n";
    sb::table t({"measure", "unit", "median", "min", "max", "reps"});
    for (const auto& [name, s] : f) {
        const auto m = sb::summarize(s.values);
        t.add({name, s.unit, sb::fmt(m.median), sb::fmt(m.min), sb::fmt(m.max), std::to_string(m.count)});
    }
    t.print();
    std::cout << "\n";
    // One line per measure, for bench/compare.sh: "peers: NAME: MEDIAN UNIT (median of N, MIN-MAX)".
    for (const auto& [name, s] : f) {
        const auto m = sb::summarize(s.values);
        std::cout << "peers: " << name << ": " << sb::fmt(m.median) << " " << s.unit << " (median of " << m.count
                  << ", " << sb::fmt(m.min) << "-" << sb::fmt(m.max) << ")\n";
    }
}

int run(const options& o) {
    const auto wanted = sb::split_list(o.what);
    const auto has = [&](const char* w) { return std::find(wanted.begin(), wanted.end(), w) != wanted.end(); };
    const bool nats = has("nats"), jetstream = has("jetstream"), redis = has("redis");
    std::cout << "starbus-bench-peers: " << o.messages << " pub/sub messages of " << o.payload << " bytes (1->"
              << o.subscribers << ": " << o.fanout_messages << "), " << o.publishes << " JetStream publishes and "
              << o.changes << " Redis changes at a window of " << o.window << ", " << o.latency_requests
              << " one at a time, " << o.reps << " repetitions\n"
              << std::flush;
    const auto setup = steady::now();
    peers p(o, nats, jetstream, redis);
    std::cout << p.describe() << " (ready in " << sb::fmt(sb::seconds_since(setup), 1) << " s)\n" << std::flush;
    std::uint64_t key_counter = 0;
    auto all = measures(o, p, nats, jetstream, redis, key_counter);
    figures f;
    for (int rep = 0; rep < o.reps; ++rep) {
        std::cout << "  rep " << rep + 1 << "\n" << std::flush;
        for (std::size_t i = 0; i < all.size(); ++i) {
            const auto& m = all[(i + static_cast<std::size_t>(rep)) % all.size()];
            m.run(f);
        }
    }
    print_summary(f);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    sb::install_exit_handlers();
    sb::install_peer_exit_handlers();
    options o;
    CLI::App app{"starbus-bench-peers: NATS core, JetStream R1/R3, Redis pub/sub and SET+WAIT on loopback"};
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--messages", o.messages, "pub/sub messages, 1 subscriber")->check(CLI::Range(1, 100000000));
    app.add_option("--fanout-messages", o.fanout_messages, "pub/sub messages with --subscribers")
        ->check(CLI::Range(1, 100000000));
    app.add_option("--subscribers", o.subscribers, "subscribers of the NATS fan-out")->check(CLI::Range(1, 100));
    app.add_option("--publishes", o.publishes, "JetStream publishes per window run")->check(CLI::Range(1, 10000000));
    app.add_option("--changes", o.changes, "Redis SET+WAIT changes per window run")->check(CLI::Range(1, 10000000));
    app.add_option("--window", o.window, "in flight (publishes, changes, pipelined PUBLISH)")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--latency-requests", o.latency_requests, "one-at-a-time requests per latency figure")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--size", o.payload, "payload and value bytes")->check(CLI::Range(1, 1000000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of one run")->check(CLI::Range(1, 3600));
    app.add_option("--what", o.what, "comma-separated: nats, jetstream, redis");
    app.add_option("--nats-server", o.nats_server, "nats-server to run (default: from the PATH, /usr/sbin)");
    app.add_option("--redis-server", o.redis_server, "redis-server to run (default: from the PATH)");
    CLI11_PARSE(app, argc, argv);
    return sb::guarded("starbus-bench-peers", [&] { return run(o); });
}
