// File: fault_injector.hpp
// Applies the faults of a schedule to a running cluster_env and heals them,
// writing each step into the timeline: what happened, when, to whom.
#pragma once

#include <cstdint>
#include <vector>

#include "cluster_env.hpp"
#include "schedule.hpp"

namespace starbus::chaos {

class fault_injector {
  public:
    fault_injector(cluster_env& env, std::uint64_t seed) : _env(env), _seed(seed) {}

    void begin(const fault& f);
    void end(const fault& f);
    // Heals whatever is still active: thaws frozen brokers, restarts killed
    // ones, removes partitions and shaping, drains full disks. Never throws;
    // problems go into the timeline.
    void heal_all() noexcept;

    // How many faults of each kind were injected.
    [[nodiscard]] const std::vector<std::size_t>& injected() const { return _injected; }
    [[nodiscard]] std::size_t total_injected() const;

  private:
    cluster_env& _env;
    std::uint64_t _seed;
    std::vector<std::size_t> _injected = std::vector<std::size_t>(5, 0);
};

}  // namespace starbus::chaos
