// File: role_sensing.hpp
// The broker's role sensors as pure functions: from what it knows of its
// peers (peer_view), a few plain facts about itself (role_facts) and `now`, to
// at most one FSM event and the bookkeeping that goes with it. No sockets, no
// clock, no logging: the reactor (broker.cpp) gathers the facts, calls these,
// applies the verdict and fires the event. docs/protocol.md "Events" defines
// every event these produce; tests/unit/test_role_sensing.cpp checks them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <starbus/broker/fsm.hpp>

#include "peer_view.hpp"

namespace starbus {

// A server whose stream this replica refused (change_refused): it is not followed again in the same epoch
// before retry_at, since it would send the same change again.
struct refusal_hold {
    std::string_view server;
    std::uint64_t epoch = 0;
    steady_time retry_at{};
};

// What the sensors read about this broker. Plain values (views into the broker's own fields), gathered
// each time; nothing here is kept.
struct role_facts {
    broker_state state = broker_state::starting;
    std::uint32_t my_rank = 0;
    std::uint64_t my_epoch = 0;     // the epoch I serve in, or the highest I adopted
    position last;                  // my last change
    std::uint64_t flushed_seq = 0;  // my last change on disk
    steady_time started{};          // when the reactor started (the start-up expiry counts from it)
    std::chrono::milliseconds expiry{};
    bool timing_trusted = true;  // false while the tick guard is tilted (tick_guard.hpp)

    // Replica side.
    std::string_view followed;                   // the server the follower follows or last followed ("" none)
    std::optional<std::uint32_t> followed_rank;  // its rank (none: not a broker of the cluster)
    std::uint64_t followed_epoch = 0;            // the epoch it announced when the session started
    bool server_lost_reported = false;           // server_lost was fired for the current silence
    bool synced_and_idle = false;                // caught up, nothing waiting for file content or being fetched
    std::uint64_t progress = 0;                  // the follower's progress marker now (changes and file bytes received)
    std::uint64_t progress_seen = 0;             // the marker at the last look, and since when it has not moved
    steady_time progress_since{};
    std::optional<refusal_hold> refused;

    // Serving side, handing over.
    std::string_view successor;
    std::optional<std::uint64_t> successor_acked;  // the successor session's acked seq (none: no session)
    steady_time handover_started{};
    bool go_sent = false;
    steady_time next_handover_message{};  // HANDOVER (replica) or HANDOVER-GO (server) is due again then
};

// The stuck-stream rule's marker: the follower's progress and since when it has stayed there.
struct progress_mark {
    std::uint64_t seen = 0;
    steady_time since{};
};

// What sense() decided. The caller applies the bookkeeping first, logs the warning, then fires the event.
struct sensing_verdict {
    std::optional<fsm_event> event;
    std::optional<std::uint64_t> adopt_epoch;  // take the followed server's (higher) epoch as mine
    std::optional<progress_mark> progress;     // the stuck-stream rule's new marker
    std::optional<bool> server_lost_reported;  // the new value of role_facts::server_lost_reported
    bool clear_refusal = false;                // forget the refusal hold: its server is followed again
    std::string warning;                       // a line for the log (warn level), "" when none
};

// The sensors evaluated on every heartbeat batch and every reactor tick.
[[nodiscard]] sensing_verdict sense(const peer_view& peers, const role_facts& facts, steady_time now);

// (passive) Ask the server for the role again now: synchronised with nothing pending, the server I follow
// is heard and I outrank it, and a heartbeat has passed since I last asked.
[[nodiscard]] bool handover_due(const peer_view& peers, const role_facts& facts, steady_time now);

// (handover) Send HANDOVER-GO again now: it went out, the successor does not serve yet, and a heartbeat
// has passed since.
[[nodiscard]] bool handover_go_unanswered(const role_facts& facts, steady_time now);

}  // namespace starbus
