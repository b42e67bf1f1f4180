// File: broker.hpp
// One starbus broker: binds its three endpoints, recovers its replica from the
// data directory, and runs the reactor (requests, replication, heartbeats, the
// role FSM) until asked to stop. See docs/protocol.md.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

namespace starbus {

struct broker_options {
    cluster_config cluster;
    std::string name;                       // must be one of cluster.brokers
    std::filesystem::path data_dir;         // created if missing; locked while the broker runs
    std::size_t history_capacity = 100000;  // recent changes kept in memory for delta resync
    // This broker's CURVE key pair (its NAME.key): required when cluster.security.mode is curve, and its
    // public key must be the one the cluster file gives this broker.
    curve_key_pair key;
    // HOST:PORT of the HTTP endpoint for operators (/metrics, /livez, /readyz, /, /status.json); empty: none.
    // starbus-broker takes it from --http, else from the broker's `http` in the cluster file.
    std::string http;
};

class broker {
  public:
    // Opens the data directory and binds the endpoints. Throws config_error or
    // storage_error with a message that says what to change.
    explicit broker(broker_options options);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    // Runs until `stop` becomes true (checked at least every few milliseconds).
    void run(const std::atomic<bool>& stop);

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace starbus
