// File: redis_peer.hpp
// The Redis measures of starbus-bench-peers, with Debian's hiredis: pub/sub
// (pipelined PUBLISH), SET + WAIT 1 0 with a replica (a window, and one at a
// time), PING round trips; and the set-up they need (readiness, the AOF
// fsync policy).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "peer_workload.hpp"

namespace starbus::bench {

// Waits until the server answers PING (not LOADING) and, with `has_replica`,
// until its replica acknowledges a write (WAIT 1). Throws after `timeout`.
void redis_wait_ready(const endpoint& server, bool has_replica, std::chrono::milliseconds timeout);

// 1 publisher (PUBLISH pipelined w.window at a time) -> 1 subscriber:
// delivered msg/s. `received` gets the count.
[[nodiscard]] double redis_pubsub(const endpoint& server, const peer_workload& w, std::size_t& received);

struct redis_change_figures {
    double rate = 0;  // changes/s acknowledged by the replica (WAIT 1 0 after each window)
    double p50 = 0;   // SET + WAIT 1 0 one at a time, µs
};

// SET key value (w.key_bytes, w.payload), WAIT 1 0: the replica has them.
// Keys cycle through 100,000; `key_counter` carries on between calls.
[[nodiscard]] redis_change_figures redis_set_wait(const endpoint& master, const peer_workload& w,
                                                  std::uint64_t& key_counter);

// PING one at a time: p50 in microseconds.
[[nodiscard]] double redis_ping_p50(const endpoint& server, const peer_workload& w);

// CONFIG SET appendfsync `mode` (everysec, always) on every node.
void redis_set_fsync(const std::vector<endpoint>& nodes, const std::string& mode);

}  // namespace starbus::bench
