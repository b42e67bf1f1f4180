// File: scenarios.hpp
// The three scenarios of starbus-chaos:
//   random faults   faults drawn from the seeded schedule (schedule.hpp)
//                   under load, then the final phase and the checker
//   failover cycles kill the primary, check that the backup serves, restart
//                   the primary, check that it takes its role back; N times
//                   in a row under load, then the final phase and the checker
//   replica cut     cut the primary from its backups (brokers only) while
//                   the load and a monitoring host (status every 0.4 s,
//                   dump/ls --from the first backup, get) reach every broker;
//                   no backup may take over, the primary must keep
//                   acknowledging, no two brokers may report active at once
//                   (cut_check.hpp); then heal, the final phase, the checker
// Each returns the process exit code: 0 passed, 1 violations found.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "checker.hpp"
#include "cluster_env.hpp"
#include "schedule.hpp"

namespace starbus::chaos {

struct scenario_options {
    env_options env;
    std::chrono::milliseconds duration{60000};  // random faults: how long the load and faults last
    std::vector<fault_kind> kinds = all_fault_kinds();
    std::chrono::milliseconds min_fault{2000}, max_fault{8000};
    std::chrono::milliseconds min_gap{1500}, max_gap{5000};
    bus_mode bus = bus_mode::info;
    int cycles = 25;  // failover cycles
    std::chrono::milliseconds settle_timeout{60000};
    // The replica cut: load before it, the cut itself, load after the heal.
    std::chrono::milliseconds cut_before{2000}, cut{5000}, cut_after{3000};
    std::chrono::milliseconds monitor_every{400};  // the monitoring host's CLI calls
    int monitor_from_every = 5;                    // every 5th of them a dump/ls --from the first backup, or a get
    std::chrono::milliseconds sample_every{100};   // the control host's status samples
    std::string reproduce;                         // the command line that reproduces this run, for the report
};

// The schedule parameters a scenario's options stand for (also what --dry-run prints).
[[nodiscard]] schedule_params schedule_for(const scenario_options& o);

// Steps both scenarios share: start the brokers and wait (bounded) until the
// primary serves and the others follow it; start the subscribers and wait
// until each has subscribed.
void start_cluster(cluster_env& env, const std::atomic<bool>& stop);
void start_subscribers(cluster_env& env, const std::atomic<bool>& stop);

int run_random_faults(const scenario_options& o, const std::atomic<bool>& stop);
int run_failover_cycles(const scenario_options& o, const std::atomic<bool>& stop);
int run_replica_cut(const scenario_options& o, const std::atomic<bool>& stop);

}  // namespace starbus::chaos
