// File: http_endpoint.hpp
// The broker's HTTP endpoint for operators (docs/deploy.md): /metrics,
// /livez, /readyz, / and /status.json, served by cpp-httplib on threads of
// its own. The reactor hands it an immutable broker_report now and then and
// marks each turn of its loop; the HTTP threads never touch the reactor's
// data, and the reactor never waits for them (a pointer swap under a mutex
// that a reader holds only to copy that pointer). No authentication: bind it
// to loopback or a management network.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "broker_report.hpp"

namespace starbus {

class http_endpoint {
  public:
    // Binds `host_port` ("HOST:PORT"; PORT 0 picks a free one) at once and serves from then on. Throws
    // config_error when it cannot bind. `liveness_limit`: how long the reactor may go without a turn
    // before /livez says it is stuck.
    http_endpoint(const std::string& host_port, std::chrono::milliseconds liveness_limit);
    ~http_endpoint();  // stops serving and joins its threads
    http_endpoint(const http_endpoint&) = delete;
    http_endpoint& operator=(const http_endpoint&) = delete;

    // The port bound (useful with PORT 0).
    [[nodiscard]] int port() const;
    // The reactor's latest report, shown from now on.
    void publish(std::shared_ptr<const broker_report> report);
    // The reactor turned (called once per loop turn: one relaxed atomic store).
    void turned(std::chrono::steady_clock::time_point now) {
        _last_turn.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    }

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
    std::atomic<std::chrono::steady_clock::rep> _last_turn;
};

// "HOST:PORT" → host and port; HOST may be [v6] or *. Throws config_error saying what is wrong.
struct http_address {
    std::string host;
    int port = 0;
};
[[nodiscard]] http_address parse_http_address(const std::string& host_port);

}  // namespace starbus
