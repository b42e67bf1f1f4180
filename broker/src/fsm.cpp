// File: fsm.cpp
// The role table of docs/protocol.md ("The broker state machine"), written as
// a literal [state][event] array so it can be read against the document cell
// by cell. Every handled cell says why the rule exists; that line is logged
// with the transition.
#include <starbus/broker/fsm.hpp>

#include <array>

namespace starbus {
namespace {

struct cell {
    broker_state next;
    std::uint32_t actions;
    bool handled;
    std::string_view why;
};

constexpr cell to(broker_state next, std::uint32_t actions, std::string_view why) { return {next, actions, true, why}; }

// An empty cell: stay, do nothing. transition() fills in the current state.
constexpr cell ignored{broker_state::starting, fsm_action::none, false,
                       "ignored: the event means nothing in this state"};

using enum broker_state;
using namespace fsm_action;

// Rules shared by several rows.
constexpr std::string_view forced = "operator's force: serve on what I hold, no proof it is everything acknowledged";
constexpr std::string_view refused_change =
    "the server sent a change I cannot apply: stop following rather than loop on it; not synchronised until the "
    "server or its epoch changes (or a retry much later)";
constexpr std::string_view follow_better =
    "a server of higher (epoch, -rank) exists: there is one server, so follow it from a fresh session";

// table[state][event], rows in broker_state order, columns in fsm_event order.
// Laid out by hand, to be read against the table in docs/protocol.md.
// clang-format off
constexpr std::array<std::array<cell, fsm_event_count>, broker_state_count> table{{
    // starting: listening one expiry for a broker that already serves
    {{
        /* startup_expired     */ to(stalled, none, "one expiry and nobody serves: stop waiting, look for a cold start"),
        /* server_seen         */ to(syncing, start_sync, "somebody already serves: a newcomer follows, never competes"),
        /* sync_complete       */ ignored,
        /* sync_broken         */ ignored,
        /* server_lost         */ ignored,
        /* vote                */ ignored,
        /* cold_start_elected  */ ignored,
        /* handover_requested  */ ignored,
        /* successor_caught_up */ ignored,
        /* successor_active    */ ignored,
        /* handover_timeout    */ ignored,
        /* handover_go         */ ignored,
        /* force               */ to(active, raise_epoch, forced),
        /* change_refused      */ ignored,
        /* successor_lost      */ ignored,
        /* nobody_to_follow    */ ignored,
        /* handover_due        */ ignored,
        /* go_unanswered       */ ignored,
    }},
    // stalled: nobody serves and I may not (yet)
    {{
        /* startup_expired     */ ignored,
        /* server_seen         */ to(syncing, start_sync, "somebody serves now: follow it"),
        /* sync_complete       */ ignored,
        /* sync_broken         */ ignored,
        /* server_lost         */ ignored,
        /* vote                */ ignored,
        /* cold_start_elected  */ to(active, raise_epoch,
                                     "nobody serves and no broker that must be heard holds more than I do: serve"),
        /* handover_requested  */ ignored,
        /* successor_caught_up */ ignored,
        /* successor_active    */ ignored,
        /* handover_timeout    */ ignored,
        /* handover_go         */ ignored,
        /* force               */ to(active, raise_epoch, forced),
        /* change_refused      */ ignored,
        /* successor_lost      */ ignored,
        /* nobody_to_follow    */ ignored,
        /* handover_due        */ ignored,
        /* go_unanswered       */ ignored,
    }},
    // syncing: a replica still catching up
    {{
        /* startup_expired     */ ignored,
        /* server_seen         */ to(syncing, start_sync, follow_better),
        /* sync_complete       */ to(passive, request_handover,
                                     "I hold all the server sent; ask for the role if I outrank it (reactor checks)"),
        /* sync_broken         */ to(syncing, start_sync, "gap or lost session: open a new one, delta if history allows"),
        /* server_lost         */ to(stalled, stop_sync, "the server died before I caught up: a partial copy never serves"),
        /* vote                */ ignored,
        /* cold_start_elected  */ ignored,
        /* handover_requested  */ ignored,
        /* successor_caught_up */ ignored,
        /* successor_active    */ ignored,
        /* handover_timeout    */ ignored,
        /* handover_go         */ ignored,
        /* force               */ to(active, stop_sync | raise_epoch, forced),
        /* change_refused      */ to(stalled, stop_sync, refused_change),
        /* successor_lost      */ ignored,
        /* nobody_to_follow    */ to(stalled, stop_sync,
                                     "the server to follow vanished before the session began: nobody serves"),
        /* handover_due        */ ignored,
        /* go_unanswered       */ ignored,
    }},
    // passive: a synchronised replica
    {{
        /* startup_expired     */ ignored,
        /* server_seen         */ to(syncing, start_sync, follow_better),
        /* sync_complete       */ ignored,
        /* sync_broken         */ to(syncing, start_sync, "the stream broke: resync before I count as synchronised again"),
        /* server_lost         */ to(passive, none, "orphaned: silence alone never makes me serve; wait for a client's vote"),
        /* vote                */ to(active, stop_sync | raise_epoch,
                                     "server silent and clients come to me, the best synchronised replica: take over"),
        /* cold_start_elected  */ ignored,
        /* handover_requested  */ ignored,
        /* successor_caught_up */ ignored,
        /* successor_active    */ ignored,
        /* handover_timeout    */ ignored,
        /* handover_go         */ to(active, stop_sync | raise_epoch,
                                     "the server stopped writes and I hold its last change: serve in a new epoch"),
        /* force               */ to(active, stop_sync | raise_epoch, forced),
        /* change_refused      */ to(stalled, stop_sync, refused_change),
        /* successor_lost      */ ignored,
        /* nobody_to_follow    */ ignored,
        /* handover_due        */ to(passive, request_handover,
                                     "I outrank the live server I follow and hold all it sent: ask again"),
        /* go_unanswered       */ ignored,
    }},
    // active: serving
    {{
        /* startup_expired     */ ignored,
        /* server_seen         */ to(syncing, start_sync,
                                     "the only way out of active is a server of higher (epoch, -rank), or a handover"),
        /* sync_complete       */ ignored,
        /* sync_broken         */ ignored,
        /* server_lost         */ ignored,
        /* vote                */ ignored,
        /* cold_start_elected  */ ignored,
        /* handover_requested  */ to(handover, stop_writes,
                                     "a synchronised broker of lower rank wants the role: freeze writes so it catches up"),
        /* successor_caught_up */ ignored,
        /* successor_active    */ ignored,
        /* handover_timeout    */ ignored,
        /* handover_go         */ ignored,
        /* force               */ ignored,
        /* change_refused      */ ignored,
        /* successor_lost      */ ignored,
        /* nobody_to_follow    */ ignored,
        /* handover_due        */ ignored,
        /* go_unanswered       */ ignored,
    }},
    // handover: serving no writes, handing the role to a broker of lower rank
    {{
        /* startup_expired     */ ignored,
        /* server_seen         */ to(syncing, start_sync, follow_better),
        /* sync_complete       */ ignored,
        /* sync_broken         */ ignored,
        /* server_lost         */ ignored,
        /* vote                */ ignored,
        /* cold_start_elected  */ ignored,
        /* handover_requested  */ ignored,
        /* successor_caught_up */ to(handover, send_handover_go, "the successor holds my last change: hand it the role"),
        /* successor_active    */ to(syncing, start_sync, "the successor serves: become its replica"),
        /* handover_timeout    */ to(active, resume_writes,
                                     "the successor went silent before serving: take writes again, same epoch"),
        /* handover_go         */ ignored,
        /* force               */ ignored,
        /* change_refused      */ ignored,
        /* successor_lost      */ to(passive, none,
                                     "the successor went silent after HANDOVER-GO: it may serve, so never take "
                                     "writes again alone; wait, synchronised, for a client's vote"),
        /* nobody_to_follow    */ ignored,
        /* handover_due        */ ignored,
        /* go_unanswered       */ to(handover, send_handover_go,
                                     "HANDOVER-GO may have been lost: send it again until the successor serves"),
    }},
}};
// clang-format on

static_assert(static_cast<int>(fsm_event::go_unanswered) + 1 == fsm_event_count, "fsm_event_count is out of date");
static_assert(static_cast<int>(broker_state::handover) + 1 == broker_state_count, "a state has no row");

constexpr std::array<std::string_view, 7> action_names{
    "start_sync", "stop_sync", "raise_epoch", "request_handover", "send_handover_go", "stop_writes", "resume_writes",
};

}  // namespace

std::string_view to_string(fsm_event e) {
    switch (e) {
        case fsm_event::startup_expired: return "startup_expired";
        case fsm_event::server_seen: return "server_seen";
        case fsm_event::sync_complete: return "sync_complete";
        case fsm_event::sync_broken: return "sync_broken";
        case fsm_event::server_lost: return "server_lost";
        case fsm_event::vote: return "vote";
        case fsm_event::cold_start_elected: return "cold_start_elected";
        case fsm_event::handover_requested: return "handover_requested";
        case fsm_event::successor_caught_up: return "successor_caught_up";
        case fsm_event::successor_active: return "successor_active";
        case fsm_event::handover_timeout: return "handover_timeout";
        case fsm_event::handover_go: return "handover_go";
        case fsm_event::force: return "force";
        case fsm_event::change_refused: return "change_refused";
        case fsm_event::successor_lost: return "successor_lost";
        case fsm_event::nobody_to_follow: return "nobody_to_follow";
        case fsm_event::handover_due: return "handover_due";
        case fsm_event::go_unanswered: return "go_unanswered";
    }
    return "unknown";
}

std::string describe_actions(std::uint32_t actions) {
    if (actions == fsm_action::none) return "none";
    std::string out;
    for (std::uint32_t bit = 0; bit < 32; ++bit) {
        if ((actions & (1u << bit)) == 0) continue;
        if (!out.empty()) out += '+';
        if (bit < action_names.size()) out += action_names[bit];
        else out += "bit" + std::to_string(bit);  // not an fsm_action: show it rather than hide it
    }
    return out;
}

fsm_step transition(broker_state state, fsm_event event) {
    const auto s = static_cast<std::size_t>(state);
    const auto e = static_cast<std::size_t>(event);
    if (s >= table.size() || e >= table[s].size()) return {state, fsm_action::none, false, "unknown state or event"};
    const cell& c = table[s][e];
    if (!c.handled) return {state, fsm_action::none, false, c.why};
    return {c.next, c.actions, true, c.why};
}

}  // namespace starbus
