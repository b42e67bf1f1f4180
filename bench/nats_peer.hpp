// File: nats_peer.hpp
// The NATS measures of starbus-bench-peers, over nats_wire's client: core
// pub/sub (1 publisher, N subscribers), PING round trips, and JetStream
// acknowledged publishes (a window in flight, and one at a time).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "peer_workload.hpp"

namespace starbus::bench {

// 1 publisher -> server -> `subs` subscribers (each on its own connection and
// thread): delivered msg/s over all of them, messages received / (first
// publish -> last message received). `received` gets the count.
[[nodiscard]] double nats_pubsub(const endpoint& server, std::size_t subs, std::size_t messages, const peer_workload& w,
                                 std::size_t& received);

// PING/PONG one at a time: p50 in microseconds.
[[nodiscard]] double nats_ping_p50(const endpoint& server, const peer_workload& w);

// Creates a file-backed stream of `replicas` on `subject`, retrying until
// the cluster has a JetStream leader; throws after `timeout`.
void create_stream(const endpoint& server, const std::string& name, const std::string& subject, int replicas,
                   std::chrono::milliseconds timeout);

struct jetstream_figures {
    double rate = 0;  // acknowledged publishes/s with w.window in flight
    double p50 = 0;   // one publish at a time, µs
};

// Publishes to `subject` with a reply inbox; each reply is a PubAck (or an
// error, which fails the run).
[[nodiscard]] jetstream_figures jetstream_publish(const endpoint& server, const std::string& subject,
                                                  const peer_workload& w);

}  // namespace starbus::bench
