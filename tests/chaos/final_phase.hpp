// File: final_phase.hpp
// The end of every chaos scenario, as in Jepsen: heal every fault, stop the
// load, let the cluster settle (one broker active, the others passive at
// the same position), drain the subscribers, read every broker's final
// replica, then run the checker on the histories. A cluster that does not
// settle, or refuses a write once healed, fails the run for liveness.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker_log.hpp"
#include "checker.hpp"
#include "cluster_env.hpp"
#include "fault_injector.hpp"

namespace starbus::chaos {

struct final_options {
    std::chrono::milliseconds settle_timeout{60000};
    checker_options checker;
};

struct run_outcome {
    history h;
    check_report report;
    std::vector<replica_state> replicas;
    std::vector<serving_claim> claims;
    std::vector<broker_log> logs;       // per broker, rank order
    std::vector<std::string> liveness;  // the cluster did not settle, or refused the final write
    std::string final_roles;            // status summary at the end
    std::int64_t load_started_ms = 0;
    std::int64_t load_stopped_ms = 0;

    [[nodiscard]] bool ok() const { return report.ok() && liveness.empty(); }
};

// `injector` may be null (a scenario that injects its faults itself and has
// healed them). `load_started_ms` is when the load began, for the figures.
[[nodiscard]] run_outcome finish_run(cluster_env& env, fault_injector* injector, const final_options& o,
                                     std::int64_t load_started_ms, const std::atomic<bool>& stop);

// Thrown when SIGINT or SIGTERM asked the harness to stop: unwinding tears
// everything down.
class interrupted : public std::runtime_error {
  public:
    interrupted() : std::runtime_error("interrupted by a signal: tearing down") {}
};
inline void check_interrupt(const std::atomic<bool>& stop) {
    if (stop.load()) throw interrupted();
}

// Polls `ready` every `every` until it returns true or `timeout` passes,
// supervising the brokers meanwhile and honouring an interrupt.
bool wait_for(cluster_env& env, const std::function<bool()>& ready, std::chrono::milliseconds timeout,
              const std::atomic<bool>& stop, std::chrono::milliseconds every = std::chrono::milliseconds(200));

}  // namespace starbus::chaos
