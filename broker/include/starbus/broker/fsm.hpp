// File: fsm.hpp
// The broker's role state machine as a pure function: (state, event) ->
// (next state, actions, why). No sockets, no clock: the reactor's sensors turn
// heartbeats, replication and requests into events, call transition(), log
// the step as one line and carry out the actions. docs/protocol.md section
// "The broker state machine" holds the same table and the definition of every
// event; tests/unit/test_fsm.cpp checks every cell against its own copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <starbus/wire/messages.hpp>  // broker_state

namespace starbus {

// What the sensors observed. Exact definitions: docs/protocol.md.
enum class fsm_event : std::uint8_t {
    startup_expired,      // one expiry passed since start and no serving broker was heard
    server_seen,          // a better server (higher (epoch, -rank)) announces itself: follow it
    sync_complete,        // snapshot_end applied: I hold everything the server had sent
    sync_broken,          // gap in seqs, server's error, or replication session lost
    server_lost,          // (replica) the server I follow has been silent for the expiry
    vote,                 // a client asked me and I may take over from a silent server
    cold_start_elected,   // nobody serves, every needed broker is heard, my position is best
    handover_requested,   // (server) a synchronised broker of lower rank asks for the role
    successor_caught_up,  // (handover) the successor acked my last seq
    successor_active,     // (handover) the successor announces active
    handover_timeout,     // (handover) before HANDOVER-GO: the successor is silent, sessionless, or too slow
    handover_go,          // (passive) the server handed the role to me
    force,                // an operator's force_request (the reactor refuses it while another serves)
    change_refused,       // (replica) the server sent a change this replica cannot decode or apply
    successor_lost,       // (handover) after HANDOVER-GO: the successor is silent, sessionless, or too slow
    nobody_to_follow,     // (syncing) start_sync found no server to follow (it vanished meanwhile)
    handover_due,         // (passive) synchronised, idle, outranking the live server: ask for the role again
    go_unanswered,        // (handover) HANDOVER-GO went a heartbeat ago and the successor does not serve yet
};
inline constexpr int fsm_event_count = 18;

[[nodiscard]] std::string_view to_string(fsm_event e);

// Actions the reactor carries out after a transition (bit flags).
namespace fsm_action {
inline constexpr std::uint32_t none = 0;
inline constexpr std::uint32_t start_sync = 1u << 0;        // (re)open a DEALER to the server, send repl_hello
inline constexpr std::uint32_t stop_sync = 1u << 1;         // close the replication DEALER
inline constexpr std::uint32_t raise_epoch = 1u << 2;       // epoch = max known + 1, persisted before serving
inline constexpr std::uint32_t request_handover = 1u << 3;  // send handover_request (the reactor checks my rank)
inline constexpr std::uint32_t send_handover_go = 1u << 4;  // tell the successor to serve
inline constexpr std::uint32_t stop_writes = 1u << 5;       // answer writes with retry_later
inline constexpr std::uint32_t resume_writes = 1u << 6;     // take writes again
}  // namespace fsm_action

// "start_sync+raise_epoch" (in bit order) or "none".
[[nodiscard]] std::string describe_actions(std::uint32_t actions);

struct fsm_step {
    broker_state next;      // the state after the event
    std::uint32_t actions;  // fsm_action bits
    bool handled;           // false: the event means nothing in this state (stay, no action)
    std::string_view why;   // one line: why this rule exists (logged with the transition)
};

// The whole role logic: no sockets, no clock. docs/protocol.md has the same table.
[[nodiscard]] fsm_step transition(broker_state state, fsm_event event);

}  // namespace starbus
