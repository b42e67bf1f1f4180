// File: scenario_cycles.cpp
// The failover/failback cycle scenario (see scenarios.hpp), in the manner
// of the brokers' own suites that kill the primary in a loop: each cycle
// kills the primary, waits for the first backup to serve and acknowledge a
// write, restarts the primary, and waits for it to take its role back and
// acknowledge a write, all under load. The checker then judges the whole
// history, so a change lost in any of the cycles fails the run.
#include <algorithm>

#include "final_phase.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace starbus::chaos {

namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// Waits until `name` is the only active broker (with `everyone` also
// requiring every other broker passive) and then acknowledges a probe write.
// Returns the empty string, or what went wrong.
std::string wait_serving(cluster_env& env, const std::string& name, bool everyone, ms timeout, const std::string& key,
                         const std::atomic<bool>& stop) {
    std::vector<broker_role> roles;
    const bool serving = wait_for(
        env,
        [&] {
            if (auto r = env.ctl().status(1000ms)) roles = *r;
            if (sole_active(roles) != name) return false;
            if (!everyone) return true;
            return settled(roles);
        },
        timeout, stop, 100ms);
    if (!serving)
        return name + " did not " + (everyone ? "take its role back" : "take over") + " within " +
               std::to_string(timeout.count() / 1000) + " s: " + summarize(roles);
    const probe_result p = env.ctl().probe(key, env.tag(), false, 10s);
    if (!p.ok) return "a write to " + name + " was not acknowledged: " + p.status + " " + p.message;
    if (p.server != name) return "a write was acknowledged by " + p.server + ", not by " + name + " which should serve";
    return {};
}

std::string spread(std::vector<double> v) {
    if (v.empty()) return "-";
    std::sort(v.begin(), v.end());
    char buf[96];
    std::snprintf(buf, sizeof buf, "min %.2f s, median %.2f s, max %.2f s", v.front(), v[v.size() / 2], v.back());
    return buf;
}

// For each time in `from`, the seconds until a worker's change was first
// acknowledged by `server` after it: the failover gap the clients saw.
std::vector<double> first_ack_after(const history& h, const std::vector<std::int64_t>& from,
                                    const std::string& server) {
    std::vector<double> out;
    for (auto t : from) {
        std::int64_t first = INT64_MAX;
        for (const auto& op : h.ops)
            if (op.kind != op_kind::publish && op.result == outcome::ok && op.server == server && op.complete_ms &&
                *op.complete_ms > t)
                first = std::min(first, *op.complete_ms);
        if (first != INT64_MAX) out.push_back(static_cast<double>(first - t) / 1000.0);
    }
    return out;
}

}  // namespace

int run_failover_cycles(const scenario_options& o, const std::atomic<bool>& stop) {
    if (o.env.brokers < 2) throw harness_error("the failover cycles need --brokers 2 or more");
    cluster_env env(o.env);
    start_cluster(env, stop);
    start_subscribers(env, stop);
    env.start_load();
    const auto load_started = wall_ms();
    const std::string primary = env.primary();
    const std::string backup = env.broker_name(1);

    std::vector<double> failovers, failbacks;
    std::vector<std::int64_t> kill_times, restart_times;  // wall clock, for the client-side figures
    std::vector<std::string> failures;
    int done = 0;
    for (int i = 1; i <= o.cycles && failures.empty(); ++i) {
        const std::string n = std::to_string(i);
        env.events().add("cycle " + n + ": SIGKILL " + primary);
        const auto killed = std::chrono::steady_clock::now();
        kill_times.push_back(wall_ms());
        env.fleet().kill(0);
        if (auto e = wait_serving(env, backup, false, 30s, "harness.cycle." + n + ".failover", stop); !e.empty()) {
            failures.push_back("cycle " + n + ": " + e);
            break;
        }
        const auto took_over = std::chrono::steady_clock::now();
        failovers.push_back(std::chrono::duration<double>(took_over - killed).count());
        env.events().add("cycle " + n + ": " + backup + " serves; restarting " + primary);
        restart_times.push_back(wall_ms());
        env.fleet().start(0);
        if (auto e = wait_serving(env, primary, true, 60s, "harness.cycle." + n + ".failback", stop); !e.empty()) {
            failures.push_back("cycle " + n + ": " + e);
            break;
        }
        failbacks.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - took_over).count());
        env.events().add("cycle " + n + ": " + primary + " serves again");
        ++done;
    }

    final_options fo;
    fo.settle_timeout = o.settle_timeout;
    fo.checker.bus = o.bus;
    run_outcome r = finish_run(env, nullptr, fo, load_started, stop);
    for (const auto& f : failures) r.liveness.push_back(f);
    std::string text =
        "cycles: " + std::to_string(done) + " of " + std::to_string(o.cycles) +
        " completed; as the harness saw it (status polls), kill to backup serving: " + spread(failovers) +
        "; restart to primary serving again: " + spread(failbacks) + "\n";
    text += "as the clients saw it, kill to the first acknowledgement by " + backup + ": " +
            spread(first_ack_after(r.h, kill_times, backup)) + "; restart to the first by " + primary + ": " +
            spread(first_ack_after(r.h, restart_times, primary)) + "\n";
    text += render_figures(r, {{"kill", static_cast<std::size_t>(done + (failures.empty() ? 0 : 1))}},
                           env.fleet().restarts());
    if (!r.ok()) text += render_failure(r, env.events(), o.env.seed, o.reproduce);
    text += std::string(r.ok() ? "PASSED " : "FAILED ") + std::to_string(done) +
            " failover/failback cycles; report, logs and histories in " + o.env.run_dir.string() + "\n";
    publish_report(text, env.events(), o.env.run_dir);
    return r.ok() ? 0 : 1;
}

}  // namespace starbus::chaos
