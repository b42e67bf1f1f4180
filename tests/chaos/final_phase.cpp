// File: final_phase.cpp
// Heal, settle, read, check (see final_phase.hpp).
#include "final_phase.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace starbus::chaos {

namespace {

using namespace std::chrono_literals;

std::uintmax_t total_size(const std::vector<std::string>& paths) {
    std::uintmax_t n = 0;
    for (const auto& p : paths) {
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0) n += static_cast<std::uintmax_t>(st.st_size);
    }
    return n;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

bool wait_for(cluster_env& env, const std::function<bool()>& ready, std::chrono::milliseconds timeout,
              const std::atomic<bool>& stop, std::chrono::milliseconds every) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        check_interrupt(stop);
        env.fleet().supervise();
        if (ready()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(every);
    }
}

run_outcome finish_run(cluster_env& env, fault_injector* injector, const final_options& o, std::int64_t load_started_ms,
                       const std::atomic<bool>& stop) {
    run_outcome out;
    out.load_started_ms = load_started_ms;
    timeline& events = env.events();
    events.add("final phase: healing every fault");
    if (injector) injector->heal_all();
    for (std::size_t i = 0; i < env.brokers(); ++i)
        if (env.fleet().held_down(i)) env.fleet().start(i);
    (void)env.dead_clients();
    for (const auto& d : env.client_failures()) out.liveness.push_back("client " + d);
    // The load stops after the heal, so that operations in flight can still
    // complete against a healed cluster (fewer unknown outcomes).
    env.stop_load(std::chrono::milliseconds(env.options().op_timeout_ms) + 5s);
    out.load_stopped_ms = wall_ms();

    // Writable once healed: one operational change through the library. It comes first because it is also
    // the vote a healed cluster may need (a backup whose server died waits for a client asking for service;
    // the harness's status polls are not votes: protocol.md "Votes").
    events.add("final phase: one write, then waiting for the cluster to settle");
    const probe_result final_write = env.ctl().probe("harness.final", env.tag(), false, 20s);
    if (!final_write.ok)
        out.liveness.push_back("the healed cluster did not acknowledge a write within 20 s: " + final_write.status +
                               " " + final_write.message);
    else
        events.add("final write acknowledged by " + final_write.server + " at (" + std::to_string(final_write.epoch) +
                   ", " + std::to_string(final_write.seq) + ")");
    std::vector<broker_role> roles;
    auto is_settled = [&] {
        if (auto r = env.ctl().status(1500ms)) roles = *r;
        return settled(roles);
    };
    if (!wait_for(env, is_settled, o.settle_timeout, stop, 250ms)) {
        out.liveness.push_back("the cluster did not settle within " + std::to_string(o.settle_timeout.count() / 1000) +
                               " s of the heal: " + summarize(roles));
    }
    (void)wait_for(env, is_settled, 20s, stop, 250ms);
    out.final_roles = summarize(roles);
    events.add("final roles: " + out.final_roles);

    // Subscribers: let what is in flight arrive (their histories stop
    // growing for a second), then stop them.
    const auto paths = env.history_paths();
    std::uintmax_t last_size = total_size(paths);
    auto last_growth = std::chrono::steady_clock::now();
    (void)wait_for(
        env,
        [&] {
            const auto now_size = total_size(paths);
            if (now_size != last_size) {
                last_size = now_size;
                last_growth = std::chrono::steady_clock::now();
            }
            return std::chrono::steady_clock::now() - last_growth > 1s;
        },
        15s, stop, 100ms);
    env.stop_subscribers(3s);

    // Final replicas: read until every broker reports the same position (a
    // replica may still be applying its last batch), bounded.
    const auto reference = sole_active(roles).value_or(env.primary());
    auto read_all = [&] {
        out.replicas.clear();
        for (std::size_t i = 0; i < env.brokers(); ++i)
            out.replicas.push_back(
                env.ctl().dump_from(env.broker_name(i), 30000ms,
                                    (env.options().run_dir / ("final-" + env.broker_name(i) + ".json")).string()));
        for (const auto& r : out.replicas)
            if (!r.read || r.seq != out.replicas.front().seq || r.epoch != out.replicas.front().epoch) return false;
        return true;
    };
    (void)wait_for(env, read_all, 90s, stop, 500ms);
    for (const auto& rs : out.replicas) {
        if (!rs.read) {
            events.add("final state of " + rs.broker + ": unreadable (" + rs.error + ")");
            continue;
        }
        std::size_t with_epoch = 0;
        for (const auto& [k, e] : rs.entries) with_epoch += e.epoch ? 1 : 0;
        events.add("final state of " + rs.broker + ": " + std::to_string(rs.entries.size()) + " entries at (" +
                   std::to_string(rs.epoch) + ", " + std::to_string(rs.seq) + "), " + std::to_string(with_epoch) +
                   " with their epoch from the worker's dump");
    }

    // Histories, logs, checker.
    for (const auto& p : paths) {
        try {
            read_history_file(p, out.h);
        } catch (const std::exception& e) {
            out.liveness.push_back(e.what());
        }
    }
    for (std::size_t i = 0; i < env.brokers(); ++i) {
        out.logs.push_back(scan_broker_log(read_file(env.broker_log(i)), env.broker_name(i), events.started_ms()));
        const auto& l = out.logs.back();
        for (std::size_t k = 0; k < l.serving.size(); ++k)
            out.claims.push_back({env.broker_name(i), l.serving_epochs[k], l.serving[k].at_ms});
    }
    checker_options co = o.checker;
    co.primary = env.primary();
    for (std::size_t i = 0; i < env.brokers(); ++i) co.brokers.push_back(env.broker_name(i));
    out.report = check(out.h, out.replicas, reference, out.claims, co);
    return out;
}

}  // namespace starbus::chaos
