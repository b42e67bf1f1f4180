// File: scenario_random.cpp
// The random-fault scenario (see scenarios.hpp): start the cluster, start
// the subscribers and the load, play the seeded schedule, then heal, settle
// and check.
#include <fstream>
#include <iostream>
#include <thread>

#include "fault_injector.hpp"
#include "final_phase.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace starbus::chaos {

namespace {
using namespace std::chrono_literals;
}

schedule_params schedule_for(const scenario_options& o) {
    schedule_params p;
    p.seed = o.env.seed;
    p.duration = o.duration;
    p.brokers = o.env.brokers;
    p.other_hosts = o.env.workers + o.env.subscribers;
    p.kinds = o.kinds;
    p.min_fault = o.min_fault;
    p.max_fault = o.max_fault;
    p.min_gap = o.min_gap;
    p.max_gap = o.max_gap;
    return p;
}

// Starts the brokers and waits for the first server; shared with the cycles.
void start_cluster(cluster_env& env, const std::atomic<bool>& stop) {
    env.fleet().start_all();
    std::vector<broker_role> roles;
    // A fresh cluster serves once every broker of lower rank is heard (a cold start needs no vote).
    const bool up = wait_for(
        env,
        [&] {
            if (auto r = env.ctl().status(1500ms)) roles = *r;
            return settled(roles) && sole_active(roles) == env.primary();
        },
        60s, stop, 250ms);
    if (!up)
        throw harness_error("the cluster did not start serving within 60 s (" + summarize(roles) +
                            "): see the broker logs in " + env.options().run_dir.string());
    env.events().add("cluster serving: " + summarize(roles));
}

// Starts the subscribers and waits until each has subscribed (its history
// has its first line), so that the checker's expectations start from a
// connected subscriber.
void start_subscribers(cluster_env& env, const std::atomic<bool>& stop) {
    env.start_subscribers();
    const auto paths = env.history_paths();
    const std::size_t first = env.options().workers;
    (void)wait_for(
        env,
        [&] {
            for (std::size_t i = first; i < paths.size(); ++i) {
                std::ifstream f(paths[i]);
                if (f.peek() == std::ifstream::traits_type::eof()) return false;
            }
            return true;
        },
        10s, stop, 50ms);
}

int run_random_faults(const scenario_options& o, const std::atomic<bool>& stop) {
    cluster_env env(o.env);
    const auto plan = make_schedule(schedule_for(o));
    env.events().add("schedule for seed " + std::to_string(o.env.seed) + ": " + std::to_string(plan.size()) +
                     " faults over " + std::to_string(o.duration.count() / 1000) + " s");
    for (const auto& f : plan)
        env.events().add("  planned at +" + std::to_string(f.start.count() / 1000.0).substr(0, 5) + " s for " +
                         std::to_string((f.end - f.start).count()) + " ms: " + describe(f, env.host_names()));

    start_cluster(env, stop);
    start_subscribers(env, stop);
    env.start_load();
    const auto t0 = std::chrono::steady_clock::now();
    const auto load_started = wall_ms();
    fault_injector injector(env, o.env.seed);

    // Plays the schedule; between steps it supervises the brokers and
    // watches the clients. Every wait is bounded by the schedule's times.
    auto wait_until_offset = [&](std::chrono::milliseconds at) {
        while (std::chrono::steady_clock::now() < t0 + at) {
            check_interrupt(stop);
            env.fleet().supervise();
            for (const auto& d : env.dead_clients()) env.events().add("client " + d);
            std::this_thread::sleep_for(20ms);
        }
    };
    for (const auto& f : plan) {
        wait_until_offset(f.start);
        injector.begin(f);
        wait_until_offset(f.end);
        injector.end(f);
    }
    wait_until_offset(o.duration);

    final_options fo;
    fo.settle_timeout = o.settle_timeout;
    fo.checker.bus = o.bus;
    const run_outcome r = finish_run(env, &injector, fo, load_started, stop);
    fault_counts counts;
    for (auto k : all_fault_kinds())
        counts.emplace_back(std::string(to_string(k)), injector.injected()[static_cast<std::size_t>(k)]);
    std::string text = render_figures(r, counts, env.fleet().restarts());
    if (!r.ok()) text += render_failure(r, env.events(), o.env.seed, o.reproduce);
    text += std::string(r.ok() ? "PASSED" : "FAILED") + " seed " + std::to_string(o.env.seed) +
            "; report, logs and histories in " + o.env.run_dir.string() + "\n";
    publish_report(text, env.events(), o.env.run_dir);
    return r.ok() ? 0 : 1;
}

}  // namespace starbus::chaos
