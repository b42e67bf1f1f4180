// File: peer_workload.hpp
// What every measure of starbus-bench-peers shares: the sizes of the
// workload (the same as starbus-bench-bus and starbus-bench-acks use, so the
// figures compare), where a server listens, and two timing helpers.
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace starbus::bench {

struct peer_workload {
    std::size_t messages = 200'000;         // pub/sub, 1 subscriber
    std::size_t fanout_messages = 100'000;  // pub/sub, `subscribers` subscribers (each gets all)
    std::size_t subscribers = 10;
    std::size_t publishes = 20'000;  // JetStream acknowledged publishes
    std::size_t changes = 20'000;    // Redis SET + WAIT
    std::size_t window = 1000;       // in flight
    std::size_t latency_requests = 2000;
    std::size_t payload = 100;  // message payload and value bytes
    std::size_t key_bytes = 16;
    int max_seconds = 60;  // time limit of one run
};

struct endpoint {
    std::string host;
    int port = 0;
};

[[nodiscard]] inline double micros(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

inline void check_deadline(std::chrono::steady_clock::time_point deadline, const std::string& what) {
    if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(what + ": time limit reached (--max-seconds)");
}

}  // namespace starbus::bench
