// File: peer_fixtures.hpp
// The cluster the role tests (peer view, sensing, tick guard) reason about, and its heartbeats.
#pragma once

#include <chrono>

#include <starbus/config/cluster_config.hpp>
#include <starbus/wire/messages.hpp>

namespace starbus::test {

// A (rank 0), B (rank 1), C (rank 2): heartbeat 100 ms, expiry 300 ms.
inline cluster_config three_brokers() {
    cluster_config c = builtin_cluster(3);
    c.heartbeat = std::chrono::milliseconds(100);
    c.expiry = std::chrono::milliseconds(300);
    return c;
}

// A heartbeat of broker `rank` of `c` in state `s`.
inline heartbeat hb(const cluster_config& c, std::uint32_t rank, broker_state s, std::uint64_t epoch = 1,
                    std::uint64_t seq = 0, std::uint64_t last_epoch = 0) {
    heartbeat h;
    h.name = c.brokers[rank].name;
    h.rank = rank;
    h.state = s;
    h.epoch = epoch;
    h.seq = seq;
    h.last_epoch = last_epoch;
    return h;
}

}  // namespace starbus::test
