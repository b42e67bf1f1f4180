// File: broker_report.hpp
// What the broker tells its operators over HTTP (docs/deploy.md): a copy of
// its state, made by the reactor every few hundred milliseconds and read by
// the HTTP threads, which never touch the reactor's own data. Plain values
// only, so the copy can be handed across threads as an immutable snapshot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <starbus/broker/fsm.hpp>

namespace starbus {

// One role transition (the FSM's log line, kept for the status page).
struct transition_record {
    std::int64_t unix_ms = 0;  // wall clock, for people
    std::string from, event, to, why;
};

// A broker of the cluster as this one sees it.
struct peer_report {
    std::string name;
    std::uint32_t rank = 0;
    bool self = false;
    bool heard = false;              // a heartbeat ever arrived (self: true)
    std::int64_t heard_ms_ago = -1;  // -1: never
    std::string state;               // its last announced state ("" when never heard)
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    // On the server, from its replication session: changes not yet acknowledged, and synchronised.
    std::optional<std::uint64_t> lag;
    bool synchronised = false;
};

// Log-spaced upper bounds of the fsync histogram, in seconds.
inline constexpr std::array<double, 12> fsync_buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                        0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

struct fsync_histogram {
    std::array<std::uint64_t, fsync_buckets.size()> counts{};  // not cumulative: one bucket each
    std::uint64_t over = 0;                                    // above the last bound
    std::uint64_t count = 0;
    double sum_seconds = 0;
    void observe(double seconds) {
        ++count;
        sum_seconds += seconds;
        for (std::size_t i = 0; i < fsync_buckets.size(); ++i)
            if (seconds <= fsync_buckets[i]) {
                ++counts[i];
                return;
            }
        ++over;
    }
};

struct broker_report {
    std::string release;  // this broker's starbus release, protocol version and libzmq: a mixed-version cluster
    int protocol = 0;     // shows during a rolling upgrade
    std::string libzmq;
    std::string name;
    std::uint32_t rank = 0;
    broker_state state = broker_state::starting;
    bool synchronised_replica = false;  // passive and holding everything its server sent
    std::string note;                   // why it does not serve, as `status` says it
    std::string server;                 // who serves, as far as it knows
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::optional<std::uint64_t> commit_seq;  // on the server
    std::uint64_t serving_starts = 0;
    std::uint64_t role_changes = 0;
    std::map<std::string, std::uint64_t> requests;  // by command name
    std::map<std::string, std::uint64_t> refused;   // by reason
    std::uint64_t bus_messages = 0;                 // bus messages accepted (published) by this broker
    std::uint64_t bus_retained = 0;
    std::uint64_t clients = 0;
    std::uint64_t files = 0;
    std::uint64_t file_bytes = 0;
    fsync_histogram fsync;
    std::vector<peer_report> brokers;             // rank order, this one included
    std::vector<transition_record> transitions;  // oldest first
    std::int64_t made_unix_ms = 0;
};

}  // namespace starbus
