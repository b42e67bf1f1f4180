// File: cluster_env.hpp
// Everything a chaos scenario runs on, built in order and torn down in
// reverse by the destructor: the namespaces and their links, one tmpfs data
// disk per broker, the cluster file, the brokers, the network faults, the
// control host, the load workers and the subscribers. Host numbering, as in
// schedule.hpp: brokers first (rank order), then workers, then subscribers;
// then the monitoring hosts (the replica-cut scenario's: they only ask) and
// the control host, neither of them ever a fault target.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "broker_fleet.hpp"
#include "control.hpp"
#include "data_disk.hpp"
#include "network_faults.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace starbus::chaos {

struct env_options {
    std::size_t brokers = 3;
    std::size_t workers = 4;      // load processes, each in its own namespace
    std::size_t subscribers = 2;  // subscriber processes, likewise
    std::size_t monitors = 0;     // monitoring hosts m1...: the CLI run in their namespace (monitor(i))
    int heartbeat_ms = 100;
    std::string ack = "replica";    // the cluster file's ack mode
    std::filesystem::path run_dir;  // logs, histories, cluster file, disk mount points
    std::filesystem::path bin_dir;  // starbus-broker, starbus, starbus-chaos-worker, starbus-chaos-relay
    std::uint64_t disk_mb = 256;    // tmpfs takes memory only as it fills
    std::string shaper = "auto";    // auto, netem, relay
    // The load.
    std::uint64_t seed = 1;
    double rate = 50;  // operations per second, per worker
    int op_timeout_ms = 2000;
    int weight_op = 60;
    int weight_config = 15;
    int weight_publish = 25;
    bool quiet = false;  // no progress lines on stderr
};

class cluster_env {
  public:
    // Throws harness_error (after undoing what it built) when setup fails.
    explicit cluster_env(const env_options& o);
    ~cluster_env();
    cluster_env(const cluster_env&) = delete;
    cluster_env& operator=(const cluster_env&) = delete;

    [[nodiscard]] const env_options& options() const { return _o; }
    [[nodiscard]] timeline& events() { return _events; }
    [[nodiscard]] broker_fleet& fleet() { return *_fleet; }
    [[nodiscard]] network_faults& network() { return *_network; }
    [[nodiscard]] data_disk& disk(std::size_t broker) { return *_disks.at(broker); }
    [[nodiscard]] control& ctl() { return *_control; }
    // The CLI (and the worker's modes) run from monitoring host i ("m1" for 0).
    [[nodiscard]] control& monitor(std::size_t i) { return *_monitors.at(i); }
    [[nodiscard]] const topology& net() const { return *_net; }

    // The fault targets' names, in host order (no control host).
    [[nodiscard]] const std::vector<std::string>& host_names() const { return _host_names; }
    [[nodiscard]] std::size_t brokers() const { return _o.brokers; }
    [[nodiscard]] const std::string& broker_name(std::size_t i) const { return _host_names.at(i); }
    [[nodiscard]] const std::string& primary() const { return _host_names.at(0); }
    [[nodiscard]] const std::string& tag() const { return _tag; }
    [[nodiscard]] std::vector<std::string> history_paths() const;
    [[nodiscard]] std::string broker_log(std::size_t i) const;

    void start_load();
    // starbus-chaos-worker watch on the control host: every broker's status
    // every `every`, one JSON line per sample appended to `samples`
    // (cut_check.hpp). The caller owns the process (and stops it).
    [[nodiscard]] ns_process start_watch(const std::filesystem::path& samples, std::chrono::milliseconds every) const;
    void start_subscribers();
    // SIGTERM, then SIGKILL after `grace`; says in the timeline who had to be killed.
    void stop_load(std::chrono::milliseconds grace);
    void stop_subscribers(std::chrono::milliseconds grace);
    // Workers or subscribers that exited on their own since the last call, described.
    [[nodiscard]] std::vector<std::string> dead_clients();
    // Every such exit of the run so far.
    [[nodiscard]] const std::vector<std::string>& client_failures() const { return _client_failures; }

  private:
    std::string program(const char* name) const;
    void write_cluster_file() const;

    env_options _o;
    std::string _tag;
    std::filesystem::path _cluster_file;
    std::vector<std::string> _host_names;
    // Declared in build order: destroyed in reverse.
    timeline _events;
    std::unique_ptr<topology> _net;
    std::vector<std::unique_ptr<data_disk>> _disks;
    std::unique_ptr<network_faults> _network;
    std::unique_ptr<broker_fleet> _fleet;
    std::unique_ptr<control> _control;
    std::vector<std::unique_ptr<control>> _monitors;
    std::vector<ns_process> _workers;
    std::vector<ns_process> _subscribers;
    std::vector<bool> _worker_reported, _subscriber_reported;
    std::vector<std::string> _client_failures;
};

}  // namespace starbus::chaos
