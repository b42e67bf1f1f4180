// File: control.hpp
// The harness's own view of the cluster, from the control host (a namespace
// on the switch that no fault ever cuts): `starbus status --json`,
// `starbus dump --json --from NAME`, and the worker's dump and probe modes,
// each run with `ip netns exec` under a deadline.
//
// STATUS and dumps are not votes (protocol.md "Votes"); a probe (a write
// through the client library) is. The random-fault scenario asks nothing
// while faults are active; only the settle phase and the failover/failback
// cycles poll.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "final_state.hpp"
#include "proc.hpp"

namespace starbus::chaos {

struct probe_result {
    bool ok = false;
    std::string status;  // the client library's result_status
    std::string server;  // who acknowledged
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::string message;
};

class control {
  public:
    control(std::string netns, std::string cli_program, std::string worker_program, std::string cluster_file);

    // The roles, or nullopt when the CLI failed.
    [[nodiscard]] std::optional<std::vector<broker_role>> status(std::chrono::milliseconds timeout);
    // Broker `name`'s replica: the CLI's dump, enriched with the worker's.
    // With `save_as`, the CLI's JSON is also written there.
    [[nodiscard]] replica_state dump_from(const std::string& name, std::chrono::milliseconds timeout,
                                          const std::string& save_as = {});
    // One operational (or configuration) change through the client library.
    [[nodiscard]] probe_result probe(const std::string& key, const std::string& value, bool config,
                                     std::chrono::milliseconds timeout);
    // Any CLI command.
    [[nodiscard]] command_result cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

  private:
    std::string _netns;
    std::string _cli;
    std::string _worker;
    std::string _cluster_file;
};

}  // namespace starbus::chaos
