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
// Every server is started here, on a random loopback address, in a temporary
// directory, and stopped at the end (peer_servers.hpp). See bench/README.md.
#include <CLI/CLI.hpp>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

#include "bench_support.hpp"
#include "nats_wire.hpp"
#include "peer_servers.hpp"

namespace sb = starbus::bench;
using namespace std::chrono_literals;
using steady = sb::clock;

namespace {

struct options {
    int reps = 5;
    std::size_t messages = 200'000;        // pub/sub, 1 subscriber
    std::size_t fanout_messages = 100'000;  // pub/sub, 10 subscribers (each gets all)
    std::size_t subscribers = 10;
    std::size_t publishes = 20'000;  // JetStream acknowledged publishes
    std::size_t changes = 20'000;    // Redis SET+WAIT
    std::size_t window = 1000;
    std::size_t latency_requests = 2000;
    std::size_t payload = 100;
    std::size_t key_bytes = 16;
    int max_seconds = 60;
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

double micros(steady::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

void check_deadline(steady::time_point deadline, const std::string& what) {
    if (steady::now() > deadline) throw std::runtime_error(what + ": time limit reached (--max-seconds)");
}

// ---- NATS ----

struct nats_endpoint {
    std::string host;
    int port = 0;
};

// 1 publisher -> server -> `subs` subscribers; delivered msgs/s over all of
// them: messages received / (first publish -> last message received).
double nats_pubsub(const nats_endpoint& ep, std::size_t subs, std::size_t messages, const options& o,
                   std::size_t& received_out) {
    const std::string subject = "bench.core";
    std::vector<std::unique_ptr<sb::nats::connection>> sub_conns;
    for (std::size_t i = 0; i < subs; ++i) {
        sub_conns.push_back(std::make_unique<sb::nats::connection>(ep.host, ep.port, 5s));
        sub_conns.back()->subscribe(subject, "1");
        // The PONG says the server registered the subscription.
        if (!sub_conns.back()->ping(5s)) throw std::runtime_error("nats: no PONG after SUB");
    }
    sb::nats::connection pub(ep.host, ep.port, 5s);
    const std::string payload = sb::make_value('n', o.payload);
    const auto deadline = steady::now() + std::chrono::seconds(o.max_seconds);
    std::atomic<bool> published{false};
    std::vector<std::size_t> got(subs, 0);
    std::vector<steady::time_point> last(subs);
    std::vector<std::string> failures(subs);
    const auto start = steady::now();
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < subs; ++i) {
        threads.emplace_back([&, i] {
            try {
                auto idle_since = steady::now();
                while (got[i] < messages && steady::now() < deadline) {
                    const std::size_t n = sub_conns[i]->read_some(100ms, {});
                    if (n > 0) {
                        got[i] += n;
                        last[i] = steady::now();
                        idle_since = last[i];
                    } else if (published && steady::now() - idle_since > 2s) {
                        break;  // the rest was lost (a slow consumer): the rate counts what arrived
                    }
                }
            } catch (const std::exception& e) {
                failures[i] = e.what();  // e.g. disconnected as a slow consumer
            }
        });
    }
    try {
        for (std::size_t sent = 0; sent < messages;) {
            for (std::size_t b = 0; b < 1000 && sent < messages; ++b, ++sent) pub.publish(subject, {}, payload);
            pub.flush();
        }
    } catch (...) {
        published = true;
        for (auto& t : threads) t.join();
        throw;
    }
    published = true;
    for (auto& t : threads) t.join();
    std::size_t total = 0;
    steady::time_point end = start;
    for (std::size_t i = 0; i < subs; ++i) {
        total += got[i];
        end = std::max(end, last[i]);
    }
    received_out = total;
    for (const auto& f : failures)
        if (!f.empty()) std::cout << "    (a subscriber stopped early: " << f << ")\n";
    if (total == 0) throw std::runtime_error("nats: no message reached a subscriber");
    return static_cast<double>(total) / std::chrono::duration<double>(end - start).count();
}

// Round trips of PING/PONG one at a time: p50 in microseconds.
double nats_ping_p50(const nats_endpoint& ep, const options& o) {
    sb::nats::connection c(ep.host, ep.port, 5s);
    std::vector<double> us;
    for (std::size_t i = 0; i < o.latency_requests; ++i) {
        const auto t0 = steady::now();
        if (!c.ping(5s)) throw std::runtime_error("nats: no PONG within 5 s");
        us.push_back(micros(steady::now() - t0));
    }
    return sb::percentile(us, 50);
}

// Creates a file-backed stream of `replicas` on `subject`, retrying until
// the cluster has a JetStream leader (or `timeout`).
void create_stream(const nats_endpoint& ep, const std::string& name, const std::string& subject, int replicas,
                   std::chrono::milliseconds timeout) {
    sb::nats::connection c(ep.host, ep.port, 5s);
    const std::string inbox = "_INBOX.create." + name;
    c.subscribe(inbox, "9");
    const std::string config = R"({"name":")" + name + R"(","subjects":[")" + subject +
                               R"("],"retention":"limits","storage":"file","discard":"old","num_replicas":)" +
                               std::to_string(replicas) + "}";
    const auto deadline = steady::now() + timeout;
    std::string last_answer = "no answer";
    while (steady::now() < deadline) {
        c.publish("$JS.API.STREAM.CREATE." + name, inbox, config);
        c.flush();
        std::string answer;
        const auto wait_until = std::min(deadline, steady::now() + 2s);
        while (answer.empty() && steady::now() < wait_until)
            c.read_some(100ms, [&](const sb::nats::message& m) { answer = std::string(m.payload); });
        if (!answer.empty()) {
            if (!sb::nats::is_error_reply(answer)) return;
            if (answer.find("already in use") != std::string::npos) return;
            last_answer = answer;
        }
        std::this_thread::sleep_for(250ms);  // JetStream not ready yet (no meta leader): ask again
    }
    throw std::runtime_error("jetstream: cannot create stream " + name + " (R" + std::to_string(replicas) +
                             ") within " + std::to_string(timeout.count()) + " ms; last answer: " + last_answer);
}

struct jetstream_figures {
    double rate = 0;  // acknowledged publishes/s
    double p50 = 0;   // one publish at a time, µs
};

// Publishes with a reply inbox; every reply is a PubAck (or an error).
jetstream_figures jetstream_publish(const nats_endpoint& ep, const std::string& subject, const options& o) {
    sb::nats::connection c(ep.host, ep.port, 5s);
    c.subscribe("_INBOX.ack.*", "2");
    if (!c.ping(5s)) throw std::runtime_error("nats: no PONG after SUB");
    const std::string payload = sb::make_value('j', o.payload);
    std::size_t acked = 0, errors = 0;
    std::string first_error;
    const auto on_ack = [&](const sb::nats::message& m) {
        ++acked;
        if (sb::nats::is_error_reply(m.payload)) {
            if (errors++ == 0) first_error = std::string(m.payload);
        }
    };
    std::string reply;
    const auto reply_for = [&](std::size_t n) -> const std::string& {
        reply = "_INBOX.ack." + std::to_string(n);  // one token per publish, as clients do
        return reply;
    };
    jetstream_figures f;
    // Window: keep up to o.window publishes unacknowledged.
    const auto deadline = steady::now() + std::chrono::seconds(o.max_seconds);
    const auto start = steady::now();
    std::size_t sent = 0;
    while (acked < o.publishes) {
        check_deadline(deadline, "jetstream window");
        while (sent < o.publishes && sent - acked < o.window) c.publish(subject, reply_for(sent++), payload);
        c.flush();
        c.read_some(100ms, on_ack);
    }
    f.rate = static_cast<double>(o.publishes) / sb::seconds_since(start);
    // One at a time.
    std::vector<double> us;
    for (std::size_t i = 0; i < o.latency_requests; ++i) {
        const std::size_t want = acked + 1;
        const auto t0 = steady::now();
        c.publish(subject, reply_for(sent++), payload);
        c.flush();
        while (acked < want) {
            check_deadline(deadline, "jetstream one at a time");
            c.read_some(100ms, on_ack);
        }
        us.push_back(micros(steady::now() - t0));
    }
    f.p50 = sb::percentile(us, 50);
    if (errors > 0)
        throw std::runtime_error("jetstream: " + std::to_string(errors) + " publishes refused, first: " + first_error);
    return f;
}

// ---- Redis (hiredis) ----

struct redis_endpoint {
    std::string host;
    int port = 0;
};

using redis_ptr = std::unique_ptr<redisContext, decltype(&redisFree)>;
using reply_ptr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

redis_ptr redis_connect(const redis_endpoint& ep) {
    const timeval connect_timeout{5, 0};
    redis_ptr c(redisConnectWithTimeout(ep.host.c_str(), ep.port, connect_timeout), &redisFree);
    if (!c || c->err)
        throw std::runtime_error("redis: cannot connect to " + ep.host + ":" + std::to_string(ep.port) + ": " +
                                 (c ? c->errstr : "out of memory"));
    // Every blocking read ends within 10 s: a WAIT 1 0 without a replica fails instead of hanging.
    const timeval io_timeout{10, 0};
    redisSetTimeout(c.get(), io_timeout);
    return c;
}

reply_ptr get_reply(redisContext* c) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK || !r)
        throw std::runtime_error(std::string("redis: no reply: ") + (c->err ? c->errstr : "unknown error"));
    reply_ptr reply(static_cast<redisReply*>(r), &freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis: error reply: " + std::string(reply->str));
    return reply;
}

reply_ptr command(redisContext* c, const char* text) {
    redisAppendCommand(c, text);
    return get_reply(c);
}

// Waits until `ep` answers PING (not LOADING) and, for a master, until its replica acknowledges a write.
void redis_wait_ready(const redis_endpoint& ep, bool has_replica, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    std::string why;
    while (steady::now() < deadline) {
        try {
            auto c = redis_connect(ep);
            command(c.get(), "PING");
            if (!has_replica) return;
            command(c.get(), "SET starbus-bench-probe 1");
            if (command(c.get(), "WAIT 1 500")->integer >= 1) return;
            why = "the replica did not acknowledge";
        } catch (const std::exception& e) {
            why = e.what();
        }
        std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("redis at " + ep.host + ":" + std::to_string(ep.port) + " not ready: " + why);
}

// 1 publisher (PUBLISH pipelined o.window at a time) -> 1 subscriber.
double redis_pubsub(const redis_endpoint& ep, const options& o, std::size_t& received_out) {
    const std::string channel = "bench.ch";
    auto sub = redis_connect(ep);
    auto pub = redis_connect(ep);
    redisAppendCommand(sub.get(), "SUBSCRIBE %s", channel.c_str());
    get_reply(sub.get());  // the subscription is in place
    const std::string payload = sb::make_value('r', o.payload);
    std::size_t got = 0;
    steady::time_point last;
    std::string failure;
    const auto start = steady::now();
    std::thread reader([&] {
        try {
            // Blocking reads end at the 10 s I/O timeout at worst.
            while (got < o.messages) {
                get_reply(sub.get());
                ++got;
                last = steady::now();
            }
        } catch (const std::exception& e) {
            failure = e.what();
        }
    });
    try {
        for (std::size_t sent = 0; sent < o.messages;) {
            std::size_t batch = 0;
            for (; batch < o.window && sent < o.messages; ++batch, ++sent)
                redisAppendCommand(pub.get(), "PUBLISH %b %b", channel.data(), channel.size(), payload.data(),
                                   payload.size());
            for (std::size_t i = 0; i < batch; ++i) get_reply(pub.get());
        }
    } catch (...) {
        reader.join();
        throw;
    }
    reader.join();
    received_out = got;
    if (got == 0) throw std::runtime_error("redis pub/sub: nothing received (" + failure + ")");
    if (!failure.empty()) std::cout << "    (the subscriber stopped early: " << failure << ")\n";
    return static_cast<double>(got) / std::chrono::duration<double>(last - start).count();
}

struct redis_change_figures {
    double rate = 0;  // changes/s acknowledged by the replica (WAIT 1 0 after each window)
    double p50 = 0;   // SET + WAIT 1 0 one at a time, µs
};

// SET key value (16-byte keys, 100-byte values), WAIT 1 0: the replica has it.
redis_change_figures redis_set_wait(const redis_endpoint& master, const options& o, std::uint64_t& key_counter) {
    auto c = redis_connect(master);
    const std::string value = sb::make_value('v', o.payload);
    const auto set = [&] {
        const std::string key = sb::make_key("k", key_counter++ % 100'000, o.key_bytes);
        redisAppendCommand(c.get(), "SET %b %b", key.data(), key.size(), value.data(), value.size());
    };
    const auto wait_replica = [&] {
        redisAppendCommand(c.get(), "WAIT 1 0");
    };
    redis_change_figures f;
    const auto start = steady::now();
    for (std::size_t done = 0; done < o.changes;) {
        std::size_t batch = 0;
        for (; batch < o.window && done < o.changes; ++batch, ++done) set();
        wait_replica();
        for (std::size_t i = 0; i < batch; ++i) get_reply(c.get());
        if (get_reply(c.get())->integer < 1) throw std::runtime_error("redis: WAIT 1 0 returned 0 replicas");
    }
    f.rate = static_cast<double>(o.changes) / sb::seconds_since(start);
    std::vector<double> us;
    for (std::size_t i = 0; i < o.latency_requests; ++i) {
        // Both commands in one write, as a client that wants the replica's acknowledgement sends them.
        set();
        wait_replica();
        const auto t0 = steady::now();
        get_reply(c.get());
        if (get_reply(c.get())->integer < 1) throw std::runtime_error("redis: WAIT 1 0 returned 0 replicas");
        us.push_back(micros(steady::now() - t0));
    }
    f.p50 = sb::percentile(us, 50);
    return f;
}

double redis_ping_p50(const redis_endpoint& ep, const options& o) {
    auto c = redis_connect(ep);
    std::vector<double> us;
    for (std::size_t i = 0; i < o.latency_requests; ++i) {
        redisAppendCommand(c.get(), "PING");
        const auto t0 = steady::now();
        get_reply(c.get());
        us.push_back(micros(steady::now() - t0));
    }
    return sb::percentile(us, 50);
}

void redis_set_fsync(const std::vector<redis_endpoint>& nodes, const std::string& mode) {
    for (const auto& ep : nodes) {
        auto c = redis_connect(ep);
        redisAppendCommand(c.get(), "CONFIG SET appendfsync %s", mode.c_str());
        get_reply(c.get());
    }
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
                        std::vector<std::string>{server, "-a", _host, "-p", std::to_string(client_ports[i]), "-n",
                                                 name, "-js", "-sd", (dir / ("nats-" + name)).string(), "--cluster",
                                                 "nats://" + _host + ":" + std::to_string(route_ports[i]),
                                                 "--routes", routes, "--cluster_name", "starbus-bench-peers"},
                        log("nats-" + name)));
                }
                for (int i = 0; i < 3; ++i)
                    sb::wait_listening(*_procs[_procs.size() - 3 + i], _host, client_ports[i], 10s);
                _nats_cluster = {_host, client_ports[0]};
                create_stream(_nats_single, "BENCH_R1", "bench.r1", 1, 30s);
                create_stream(_nats_cluster, "BENCH_R3", "bench.r3", 3, 60s);
            }
        }
        if (redis) {
            const std::string server = sb::find_program(o.redis_server, "redis-server");
            const auto start_redis = [&](const std::string& name, std::vector<std::string> extra) {
                const redis_endpoint ep{_host, next_port(port)};
                std::filesystem::create_directories(dir / name);
                std::vector<std::string> argv{server,  "--bind", _host, "--port", std::to_string(ep.port),
                                              "--dir", (dir / name).string(), "--save", "", "--protected-mode",
                                              "no",    "--daemonize", "no"};
                argv.insert(argv.end(), extra.begin(), extra.end());
                _procs.push_back(std::make_unique<sb::server_process>(argv, log(name)));
                sb::wait_listening(*_procs.back(), _host, ep.port, 10s);
                return ep;
            };
            // Pub/sub and PING: no persistence; no output-buffer limit for a subscriber that lags
            // (the default, 32 MiB, would disconnect it, and the benchmark wants what is delivered).
            _redis_plain = start_redis("redis-plain", {"--appendonly", "no", "--client-output-buffer-limit",
                                                       "pubsub 0 0 0"});
            const std::vector<std::string> aof{"--appendonly", "yes", "--appendfsync", "everysec"};
            _redis_master = start_redis("redis-master", aof);
            auto replica_args = aof;
            replica_args.insert(replica_args.end(), {"--replicaof", _host, std::to_string(_redis_master.port)});
            _redis_replica = start_redis("redis-replica", replica_args);
            redis_wait_ready(_redis_plain, false, 10s);
            redis_wait_ready(_redis_master, true, 30s);
        }
    }

    [[nodiscard]] std::string describe() const {
        std::string s = "peers on " + _host + " in " + _dir.path().string() + ":";
        if (_nats_single.port) s += " nats-server :" + std::to_string(_nats_single.port);
        if (_nats_cluster.port) s += ", nats cluster of 3 (client :" + std::to_string(_nats_cluster.port) + "...)";
        if (_redis_plain.port)
            s += ", redis :" + std::to_string(_redis_plain.port) + ", redis master :" +
                 std::to_string(_redis_master.port) + " + replica :" + std::to_string(_redis_replica.port);
        return s;
    }

    // Servers are stopped before the directory is removed (members are destroyed in reverse order).
    ~peers() {
        for (auto it = _procs.rbegin(); it != _procs.rend(); ++it) (*it)->stop();
    }

    starbus::test::temp_dir _dir;
    std::string _host;
    nats_endpoint _nats_single, _nats_cluster;
    redis_endpoint _redis_plain, _redis_master, _redis_replica;
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
                         const double one = nats_pubsub(p._nats_single, 1, o.messages, o, got);
                         show("nats core 1->1", one, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, "nats core 1->1 delivered", "msg/s", one);
                         const double fan = nats_pubsub(p._nats_single, o.subscribers, o.fanout_messages, o, got);
                         const std::string label = "nats core 1->" + std::to_string(o.subscribers);
                         show(label, fan, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, label + " delivered", "msg/s", fan);
                         const double ping = nats_ping_p50(p._nats_single, o);
                         show("nats PING p50", ping, "us");
                         record(f, "nats PING p50", "us", ping);
                     }});
    }
    if (jetstream) {
        for (const auto& [label, ep, subject] :
             {std::tuple{std::string("jetstream R1"), &p._nats_single, std::string("bench.r1")},
              std::tuple{std::string("jetstream R3"), &p._nats_cluster, std::string("bench.r3")}}) {
            m.push_back({label, [&, show, label = label, ep = ep, subject = subject](figures& f) {
                             const auto js = jetstream_publish(*ep, subject, o);
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
                         const double rate = redis_pubsub(p._redis_plain, o, got);
                         show("redis pub/sub 1->1", rate, "msg/s", " (received " + std::to_string(got) + ")");
                         record(f, "redis pub/sub 1->1 delivered", "msg/s", rate);
                         const double ping = redis_ping_p50(p._redis_plain, o);
                         show("redis PING p50", ping, "us");
                         record(f, "redis PING p50", "us", ping);
                     }});
        for (const std::string mode : {"everysec", "always"}) {
            m.push_back({"redis SET+WAIT " + mode, [&, show, mode](figures& f) {
                             const std::vector<redis_endpoint> nodes{p._redis_master, p._redis_replica};
                             redis_set_fsync(nodes, mode);
                             const auto r = redis_set_wait(p._redis_master, o, key_counter);
                             redis_set_fsync(nodes, "everysec");
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
