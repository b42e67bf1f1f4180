// File: bench_storm.cpp
// starbus-bench-storm: how long a reconnect storm takes to settle (issue 4).
// For each state size K (--keys) and repetition, on a fresh 3-broker cluster:
// load K keys, start C mirroring clients (--clients, default 1000) in this one
// process, sharing one ZeroMQ context (client_options::context) and serviced
// from this one thread (poll(0) on each in turn), and time:
//   - first sync: from the clients' creation until every one is synchronised
//     with A and holds the last key (C full snapshots: the reference);
//   - failover: SIGKILL A, one write (the vote) makes B serve; from the kill
//     until every client is synchronised with B and holds the key written;
//   - failback: restart A on its data directory; it syncs from B and takes
//     its role back; from the restart until every client is synchronised
//     with A again and holds a key written at the restart.
// Checked every repetition: B took over once and served until it handed the
// role back, A never lost its role while serving, C never served (broker
// logs), and every client converged.
// Baseline in the same run, per size: raw libzmq, C DEALERs in one context
// each asking one ROUTER (a separate process) once and getting a reply of the
// size of one client's full snapshot (in parts of 1 MiB, like the broker).
//
// The same binary, started with --serve-snapshot, is the ROUTER process.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
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
    std::string keys = "1000,10000";
    std::size_t clients = 1000;
    std::size_t key_bytes = 16;
    std::size_t value_bytes = 100;
    int heartbeat_ms = 250;
    int max_seconds = 120;
    std::string broker;
    std::string log_dir;
    bool trace = false;
};

double ms_since(clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); }

void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

// ---- the raw baseline ----

// Bytes of one client's full snapshot of k keys: the parts and the end, with
// one remembered request per key (they were loaded by one client).
std::size_t snapshot_bytes(const options& o, std::size_t k) {
    snapshot_part part;
    part.request_id = 1;
    snapshot_end end;
    end.request_id = 1;
    for (std::size_t i = 0; i < k; ++i) {
        change c;
        c.epoch = 1;
        c.seq = i + 1;
        c.key = make_key("st", i, o.key_bytes);
        c.value = make_value('v', o.value_bytes);
        c.client_id = 0x1234567890abcdefULL;
        c.request_id = i + 1;
        part.entries.push_back(std::move(c));
        end.requests.push_back(request_record{0x1234567890abcdefULL, i + 1, 1, i + 1});
    }
    return encode(part).size() + encode(end).size();
}

// The ROUTER: every request is answered with `bytes` bytes, in parts of at most 1 MiB.
int serve_snapshot(const std::string& endpoint, std::size_t bytes) {
    const pid_t parent = ::getppid();
    zmq::context_t ctx(1);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    // The same settings as the broker's request socket.
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::sndhwm, 100000);
    router.set(zmq::sockopt::rcvhwm, 100000);
    router.bind(endpoint);
    const std::size_t part = 1u << 20;
    const std::string payload(std::min(bytes, part), 'x');
    const auto until = clock::now() + helper_lifetime;
    while (!parent_gone(parent) && clock::now() < until) {
        zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, milliseconds(100)) <= 0) continue;
        for (int i = 0; i < 4096; ++i) {
            zmq::message_t identity, body;
            if (!router.recv(identity, zmq::recv_flags::dontwait)) break;
            if (!identity.more() || !router.recv(body, zmq::recv_flags::dontwait)) continue;
            for (std::size_t sent = 0; sent < bytes || sent == 0;) {
                const std::size_t n = std::min(part, bytes - sent);
                zmq::message_t id(identity.data(), identity.size());
                static_cast<void>(router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait));
                static_cast<void>(router.send(zmq::buffer(payload.data(), n), zmq::send_flags::dontwait));
                sent += n;
                if (n == 0) break;
            }
        }
    }
    return 0;
}

// C DEALERs (one context) connect, each asks once; the time until every one has all its bytes, in ms
// (-1 at the deadline).
double raw_storm(const std::string& endpoint, std::size_t clients, std::size_t bytes, clock::time_point until) {
    zmq::context_t ctx(1);
    ctx.set(zmq::ctxopt::max_sockets, static_cast<int>(8 * clients + 64));
    const auto t0 = clock::now();
    std::vector<zmq::socket_t> dealers;
    dealers.reserve(clients);
    for (std::size_t i = 0; i < clients; ++i) {
        dealers.emplace_back(ctx, zmq::socket_type::dealer);
        dealers.back().set(zmq::sockopt::linger, 0);
        dealers.back().set(zmq::sockopt::rcvhwm, 100000);
        dealers.back().connect(endpoint);
        static_cast<void>(dealers.back().send(zmq::str_buffer("snapshot?"), zmq::send_flags::dontwait));
    }
    std::vector<std::size_t> got(clients, 0);
    std::size_t done = 0;
    const std::size_t want = std::max<std::size_t>(bytes, 1);
    while (done < clients && clock::now() < until) {
        for (std::size_t i = 0; i < clients; ++i) {
            if (got[i] >= want) continue;
            zmq::message_t m;
            while (got[i] < want && dealers[i].recv(m, zmq::recv_flags::dontwait))
                got[i] += std::max<std::size_t>(m.size(), 1);
            if (got[i] >= want) ++done;
        }
    }
    return done == clients ? ms_since(t0) : -1;
}

// ---- the storm ----

// Every state a broker's log says it entered: (from, to) of each "fsm: FROM --EVENT--> TO".
std::vector<std::pair<std::string, std::string>> transitions(const std::string& path) {
    std::vector<std::pair<std::string, std::string>> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const auto at = line.find("fsm: ");
        const auto arrow = at == std::string::npos ? at : line.find("--> ", at);
        const auto from_end = at == std::string::npos ? at : line.find(' ', at + 5);
        if (arrow == std::string::npos || from_end == std::string::npos) continue;
        const auto to_end = line.find(' ', arrow + 4);
        out.emplace_back(line.substr(at + 5, from_end - at - 5), line.substr(arrow + 4, to_end - arrow - 4));
    }
    return out;
}

struct rep_result {
    double first_ms = -1;     // clients created -> all synchronised with A
    double takeover_ms = -1;  // kill -> B acknowledged the vote
    double failover_ms = -1;  // kill -> all synchronised with B, holding its new key
    double failback_ms = -1;  // restart of A -> all synchronised with A, holding the key written then
    std::size_t full_failover = 0, full_failback = 0;  // full snapshots (not deltas) among the resyncs
    std::string failure;
};

struct storm_client {
    std::unique_ptr<client> c;
    std::size_t full = 0;
    // --trace: when (ms since the phase began) this client last lost a server, found one, synchronised,
    // and how many times it lost and found one in the phase.
    double lost_ms = -1, found_ms = -1, synced_ms = -1;
    int losses = 0, finds = 0, syncs = 0;
};

// --trace: how the clients' events of one phase spread in time (p10, p50, p90, max of each).
void print_trace(const std::string& phase, const std::vector<storm_client>& clients) {
    auto spread = [&](auto field) {
        std::vector<double> v;
        for (const auto& s : clients)
            if (field(s) >= 0) v.push_back(field(s));
        if (v.empty()) return std::string("none");
        return fmt(percentile(v, 10)) + "/" + fmt(percentile(v, 50)) + "/" + fmt(percentile(v, 90)) + "/" +
               fmt(percentile(v, 100)) + " (" + std::to_string(v.size()) + ")";
    };
    std::cout << "    trace " << phase << " ms p10/p50/p90/max: lost " << spread([](auto& s) { return s.lost_ms; })
              << ", found " << spread([](auto& s) { return s.found_ms; }) << ", synced "
              << spread([](auto& s) { return s.synced_ms; }) << "; losses/client "
              << spread([](auto& s) { return double(s.losses); }) << ", finds/client "
              << spread([](auto& s) { return double(s.finds); }) << ", syncs/client "
              << spread([](auto& s) { return double(s.syncs); }) << "\n";
}

rep_result measure(const options& o, const std::string& broker_path, std::size_t k, int rep) {
    rep_result out;
    test::temp_dir logs;
    cluster_settings settings;
    settings.brokers = 3;
    settings.heartbeat_ms = o.heartbeat_ms;
    settings.log_dir = o.log_dir.empty() ? logs.path().string()
                                         : o.log_dir + "/keys" + std::to_string(k) + "-rep" + std::to_string(rep + 1);
    bench_cluster cluster(broker_path, settings);
    cluster.start_all();
    auto fail = [&](const std::string& why) {
        out.failure = why;
        std::cerr << "keys " << k << " rep " << rep + 1 << ": " << why << "\n" << cluster.log_tail();
        return out;
    };
    if (!cluster.wait_settled(0, std::chrono::seconds(30))) return fail("the cluster did not settle within 30 s");

    zmq::context_t ctx(1);
    ctx.set(zmq::ctxopt::max_sockets, static_cast<int>(8 * o.clients + 64));
    client_options base = cluster.options();
    base.context = &ctx;
    client writer(base);
    const deadline load_until(clock::now() + std::chrono::seconds(o.max_seconds));
    {
        std::vector<change_request> batch;
        batch.reserve(k);
        for (std::size_t i = 0; i < k; ++i)
            batch.push_back(change_request::put(make_key("st", i, o.key_bytes), make_value('v', o.value_bytes)));
        const result r = writer.set_many(batch, load_until);
        if (!r.ok()) return fail("loading failed: " + r.message);
    }
    const std::string last_key = make_key("st", k - 1, o.key_bytes);

    auto mirror_opts = base;
    mirror_opts.mirror_state = true;
    std::vector<storm_client> clients(o.clients);
    const auto created_at = clock::now();
    clock::time_point phase_at = created_at;
    auto new_phase = [&](clock::time_point at) {
        phase_at = at;
        for (auto& s : clients) {
            s.lost_ms = s.found_ms = s.synced_ms = -1;
            s.losses = s.finds = s.syncs = 0;
        }
    };
    for (auto& s : clients) {
        s.c = std::make_unique<client>(mirror_opts);
        s.c->on_event([&s, &phase_at](const client_event& e) {
            if (const auto* y = std::get_if<synchronised>(&e)) {
                if (y->full) ++s.full;
                s.synced_ms = ms_since(phase_at);
                ++s.syncs;
            } else if (std::holds_alternative<server_lost>(e)) {
                s.lost_ms = ms_since(phase_at);
                ++s.losses;
            } else if (std::holds_alternative<server_changed>(e)) {
                s.found_ms = ms_since(phase_at);
                ++s.finds;
            }
        });
    }
    std::vector<double> round_ms;  // --trace: how long each round over the clients took, this phase
    auto round = [&] {
        const auto t = clock::now();
        for (auto& s : clients) s.c->poll(milliseconds(0));
        writer.poll(milliseconds(0));
        if (o.trace) round_ms.push_back(ms_since(t));
    };
    auto print_rounds = [&] {
        if (o.trace && !round_ms.empty())
            std::cout << "    rounds: " << round_ms.size() << ", ms p50/p90/max " << fmt(percentile(round_ms, 50), 1)
                      << "/" << fmt(percentile(round_ms, 90), 1) << "/" << fmt(percentile(round_ms, 100), 1) << "\n";
        round_ms.clear();
    };
    auto all_on = [&](const std::string& server, const std::string& key) {
        return std::all_of(clients.begin(), clients.end(), [&](const storm_client& s) {
            return s.c->synchronised() && s.c->server() && s.c->server()->name == server &&
                   s.c->mirror().find(key) != nullptr;
        });
    };
    const auto limit = std::chrono::seconds(o.max_seconds);
    auto until_all = [&](const std::string& server, const std::string& key, const std::function<void()>& also) {
        return test::wait_until(
            [&] {
                round();
                if (also) also();
                return all_on(server, key);
            },
            limit, milliseconds(0));
    };

    // Fresh start: everyone's first synchronisation with A.
    if (!until_all(cluster.name(0), last_key, {}))
        return fail("not every client synchronised with A within " + std::to_string(o.max_seconds) + " s");
    out.first_ms = ms_since(created_at);
    if (o.trace) print_trace("first sync", clients);
    print_rounds();

    // Failover: A dies, one write is the vote.
    for (auto& s : clients) s.full = 0;
    const auto kill_at = clock::now();
    new_phase(kill_at);
    cluster.kill(0);
    std::optional<result> vote;
    writer.submit(change_request::put("storm.failover", "b"), deadline(clock::now() + limit),
                  [&](const result& r) { vote = r; });
    const bool failed_over = until_all(cluster.name(1), "storm.failover", [&] {
        if (vote && out.takeover_ms < 0) out.takeover_ms = ms_since(kill_at);
    });
    if (!vote || !vote->ok()) return fail("the vote was not acknowledged: " + (vote ? vote->message : "no answer"));
    if (vote->server != cluster.name(1)) return fail("expected B to take over, " + vote->server + " did");
    if (!failed_over) return fail("not every client synchronised with B");
    out.failover_ms = ms_since(kill_at);
    if (o.trace) print_trace("failover", clients);
    print_rounds();
    for (auto& s : clients) {
        out.full_failover += s.full;
        s.full = 0;
    }

    // Failback: A returns and takes its role back; a key written at the restart must reach every mirror.
    const auto restart_at = clock::now();
    new_phase(restart_at);
    cluster.start(0);
    std::optional<result> back;
    writer.submit(change_request::put("storm.failback", "a"), deadline(clock::now() + limit),
                  [&](const result& r) { back = r; });
    if (!until_all(cluster.name(0), "storm.failback", {})) return fail("not every client synchronised with A again");
    out.failback_ms = ms_since(restart_at);
    if (o.trace) print_trace("failback", clients);
    print_rounds();
    for (auto& s : clients) out.full_failback += s.full;
    if (!back || !back->ok()) return fail("the write at the restart failed: " + (back ? back->message : "no answer"));

    // Roles: A never left active, B served from its takeover until it handed the role back, C never served.
    auto path = [&](std::size_t i) { return settings.log_dir + "/" + cluster.name(i) + ".log"; };
    for (const auto& [from, to] : transitions(path(0)))
        if (from == "active" && to != "active") return fail("A went from active to " + to);
    int b_took_over = 0;
    for (const auto& [from, to] : transitions(path(1))) {
        if (to == "active" && from != "active") ++b_took_over;
        if (from == "active" && to != "active" && to != "handover") return fail("B went from active to " + to);
    }
    if (b_took_over != 1) return fail("B took over " + std::to_string(b_took_over) + " times");
    for (const auto& [from, to] : transitions(path(2)))
        if (to == "active") return fail("C served (" + from + " -> active)");
    return out;
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    raise_fd_limit();
    std::vector<std::size_t> sizes;
    for (const auto& s : split_list(o.keys)) {
        const long long n = std::stoll(s);
        if (n < 1 || n > 10000000) throw std::runtime_error("--keys: " + s + " is not a count from 1 to 1e7");
        sizes.push_back(static_cast<std::size_t>(n));
    }
    std::cout << "starbus-bench-storm: 3-broker clusters, heartbeat " << o.heartbeat_ms << " ms; " << o.clients
              << " mirroring clients in one process (one shared context, one thread); keys " << o.keys << " ("
              << o.key_bytes << "-byte keys, " << o.value_bytes << "-byte values); " << o.reps << " repetitions\n"
              << std::flush;

    std::map<std::size_t, std::vector<rep_result>> results;
    std::map<std::size_t, std::vector<double>> raw;
    std::map<std::size_t, std::size_t> raw_bytes;
    table t({"keys", "rep", "raw ms", "first sync ms", "kill->B acks ms", "failover: all synced ms",
             "failback: all synced ms", "full resyncs (fo/fb)", "note"});
    bool failed = false;
    for (auto k : sizes) {
        raw_bytes[k] = snapshot_bytes(o, k);
        for (int rep = 0; rep < o.reps; ++rep) {
            // The raw baseline first, then the cluster, in every repetition.
            const std::string endpoint =
                "tcp://" + test::random_loopback_host() + ":" + std::to_string(test::random_base_port());
            double raw_ms = -1;
            {
                tracked_process router({self_path(), "--serve-snapshot", "--endpoint", endpoint, "--bytes",
                                        std::to_string(raw_bytes[k])},
                                       "/dev/null");
                raw_ms = raw_storm(endpoint, o.clients, raw_bytes[k],
                                   clock::now() + std::chrono::seconds(o.max_seconds));
            }
            if (raw_ms >= 0) raw[k].push_back(raw_ms);
            rep_result r = measure(o, broker_path, k, rep);
            results[k].push_back(r);
            if (!r.failure.empty() || raw_ms < 0) failed = true;
            t.add({std::to_string(k), std::to_string(rep + 1), fmt(raw_ms, 1), fmt(r.first_ms, 1),
                   fmt(r.takeover_ms, 1), fmt(r.failover_ms, 1), fmt(r.failback_ms, 1),
                   std::to_string(r.full_failover) + "/" + std::to_string(r.full_failback),
                   raw_ms < 0 ? "raw timed out" : r.failure});
            std::cout << "  keys " << k << " rep " << rep + 1 << ": raw " << fmt(raw_ms, 1) << " ms, first sync "
                      << fmt(r.first_ms, 1) << " ms, failover " << fmt(r.failover_ms, 1) << " ms, failback "
                      << fmt(r.failback_ms, 1) << " ms" << (r.failure.empty() ? "" : " [" + r.failure + "]") << "\n"
                      << std::flush;
        }
    }
    std::cout << "\n";
    t.print();
    std::cout << "\n";
    table sum({"keys", "snapshot bytes", "measure", "median ms", "min", "max", "x raw"});
    std::string line = "storm:";
    for (auto k : sizes) {
        const summary rs = summarize(raw[k]);
        std::vector<double> first, fo, fb;
        for (const auto& r : results[k]) {
            if (r.first_ms >= 0) first.push_back(r.first_ms);
            if (r.failover_ms >= 0) fo.push_back(r.failover_ms);
            if (r.failback_ms >= 0) fb.push_back(r.failback_ms);
        }
        auto add = [&](const std::string& what, const summary& s) {
            sum.add({std::to_string(k), std::to_string(raw_bytes[k]), what, fmt(s.median, 1), fmt(s.min, 1),
                     fmt(s.max, 1), rs.median > 0 ? fmt(s.median / rs.median, 1) : ""});
        };
        add("raw: " + std::to_string(o.clients) + " DEALERs get one snapshot-sized reply", rs);
        const summary f = summarize(first), so = summarize(fo), sb = summarize(fb);
        add("first sync, fresh start", f);
        add("failover: kill A -> all synced with B", so);
        add("failback: restart A -> all synced with A", sb);
        line += " " + std::to_string(k) + " keys: " + std::to_string(o.clients) + " clients synced " +
                fmt(so.median) + " ms after the failover (median of " + std::to_string(so.count) + ", min " +
                fmt(so.min) + ", max " + fmt(so.max) + "), " + fmt(sb.median) + " ms after the failback restart, first sync " +
                fmt(f.median) + " ms, raw " + fmt(rs.median) + " ms;";
    }
    sum.print();
    line.pop_back();
    std::cout << "\n" << line << (failed ? " [a repetition failed a check]" : "") << "\n";
    return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-storm: time for 1,000 mirroring clients to resynchronise after a failover"};
    options o;
    bool serve = false;
    std::string endpoint;
    std::size_t bytes = 0;
    app.add_option("--reps", o.reps, "repetitions per size (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--keys", o.keys, "comma-separated state sizes");
    app.add_option("--clients", o.clients, "mirroring clients")->check(CLI::Range(1, 20000));
    app.add_option("--key-bytes", o.key_bytes, "key size")->check(CLI::Range(8, 1024));
    app.add_option("--value-bytes", o.value_bytes, "value size")->check(CLI::Range(1, 1000000));
    app.add_option("--heartbeat-ms", o.heartbeat_ms, "cluster heartbeat")->check(CLI::Range(10, 60000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of each phase")->check(CLI::Range(1, 3600));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    app.add_option("--log-dir", o.log_dir, "keep the broker logs under this directory (default: removed at exit)");
    app.add_flag("--trace", o.trace, "print how the clients' events of each phase spread in time");
    app.add_flag("--serve-snapshot", serve, "internal: be the raw ROUTER process")->group("");
    app.add_option("--endpoint", endpoint, "internal: the raw ROUTER's endpoint")->group("");
    app.add_option("--bytes", bytes, "internal: bytes of each raw reply")->group("");
    CLI11_PARSE(app, argc, argv);
    if (serve) return guarded("starbus-bench-storm", [&] { return serve_snapshot(endpoint, bytes); });
    install_exit_handlers();
    return guarded("starbus-bench-storm", [&] { return run(o); });
}
