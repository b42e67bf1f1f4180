// File: link.cpp
// The client's link table (link.hpp), written as a literal [state][event]
// array so it can be read against docs/protocol.md "Client behaviour" cell by
// cell, like the broker's role table (broker/src/fsm.cpp). Every handled cell
// says why the rule exists. Also the link's pure timer rules.
#include "link.hpp"

#include <algorithm>
#include <array>

namespace starbus::client_detail {
namespace {

using std::chrono::milliseconds;

constexpr link_step to(link_state next, std::uint32_t actions, std::string_view why) {
    return {next, actions, true, why};
}

// An empty cell: stay, do nothing. link_transition() fills in the current state.
constexpr link_step ignored{link_state::idle, link_action::none, false,
                            "ignored: the event means nothing in this state"};

using enum link_state;
using namespace link_action;

// Rules shared by several rows.
constexpr std::string_view no_link = "ignored: no broker is being talked to, so nothing it says can arrive";
constexpr std::string_view started = "ignored: already started";
constexpr std::string_view open_next =
    "the pause is over: open the DEALER to the walk's broker, re-send everything unacknowledged oldest first "
    "(the cluster dedupes), ping it asking it to serve";
constexpr std::string_view go_named =
    "it does not serve: go straight to the broker it names as server, else the next in rank order";
constexpr std::string_view skip_silent =
    "silent for a whole attempt: leave it, and skip it for the rest of this pass over the cluster";
constexpr std::string_view distrust = "the application saw it misbehave as server: leave it, walk on";
constexpr std::string_view closed =
    "its connection closed or was refused (the kernel closes a dead process's connections at once, and refuses "
    "connections where nobody listens): leave it now rather than after an attempt's silence, and skip it for the "
    "rest of this pass";

constexpr link_step no_link_cell{link_state::idle, link_action::none, false, no_link};
constexpr link_step started_cell{link_state::idle, link_action::none, false, started};
constexpr link_step not_started_cell{link_state::idle, link_action::none, false,
                                     "ignored: not started, nothing to connect"};

// table[state][event], rows in link_state order, columns in link_event order.
// clang-format off
constexpr std::array<std::array<link_step, link_event_count>, link_state_count> table{{
    // idle: nothing has needed the server yet
    {{
        /* start             */ to(probing, probe,
                                   "the first request, subscription or mirror needs the server: ask every broker "
                                   "at once who serves, so a dead primary does not cost a whole attempt"),
        /* probe_done        */ ignored,
        /* connect_due       */ not_started_cell,
        /* serving           */ no_link_cell,
        /* serving_new_epoch */ no_link_cell,
        /* not_serving       */ no_link_cell,
        /* silent            */ no_link_cell,
        /* distrusted        */ no_link_cell,
        /* connection_lost   */ no_link_cell,
    }},
    // probing: first contact, asking every broker who serves
    {{
        /* start             */ started_cell,
        /* probe_done        */ to(connecting, none,
                                   "the walk starts where the probe pointed (the active broker, or whom the live "
                                   "ones name): connect at once"),
        /* connect_due       */ ignored,
        /* serving           */ no_link_cell,
        /* serving_new_epoch */ no_link_cell,
        /* not_serving       */ no_link_cell,
        /* silent            */ no_link_cell,
        /* distrusted        */ no_link_cell,
        /* connection_lost   */ no_link_cell,
    }},
    // connecting: no DEALER yet, connect when due
    {{
        /* start             */ started_cell,
        /* probe_done        */ ignored,
        /* connect_due       */ to(confirming, open, open_next),
        /* serving           */ no_link_cell,
        /* serving_new_epoch */ no_link_cell,
        /* not_serving       */ no_link_cell,
        /* silent            */ no_link_cell,
        /* distrusted        */ no_link_cell,
        /* connection_lost   */ no_link_cell,
    }},
    // confirming: DEALER open, the broker has not said it serves yet
    {{
        /* start             */ started_cell,
        /* probe_done        */ ignored,
        /* connect_due       */ ignored,
        /* serving           */ to(connected, confirm,
                                   "it says it serves: use it (the walk's pause starts small again) and announce "
                                   "it unless it is the server last announced"),
        /* serving_new_epoch */ to(connected, confirm, "it says it serves: use it, as for serving"),
        /* not_serving       */ to(reconnecting, leave, go_named),
        /* silent            */ to(reconnecting, mark_silent | leave, skip_silent),
        /* distrusted        */ to(reconnecting, leave, distrust),
        /* connection_lost   */ to(reconnecting, mark_silent | leave, closed),
    }},
    // connected: the broker on the DEALER serves
    {{
        /* start             */ started_cell,
        /* probe_done        */ ignored,
        /* connect_due       */ ignored,
        /* serving           */ to(connected, none, "the server confirms what we know: the pong only keeps the link alive"),
        /* serving_new_epoch */ to(connected, replay | confirm,
                                   "the same broker serves at a new epoch: it restarted (what was in flight died "
                                   "with it) or took over again; ask again for everything unanswered and announce it"),
        /* not_serving       */ to(reconnecting, leave,
                                   "the server stopped serving: report it lost, then go to whom it names, else walk on"),
        /* silent            */ to(reconnecting, mark_silent | leave,
                                   "the server was silent for a whole attempt: report it lost, skip it this pass"),
        /* distrusted        */ to(reconnecting, leave, distrust),
        /* connection_lost   */ to(reconnecting, mark_silent | leave, closed),
    }},
    // reconnecting: left a broker, connect to the next when the pause is over
    {{
        /* start             */ started_cell,
        /* probe_done        */ ignored,
        /* connect_due       */ to(confirming, open, open_next),
        /* serving           */ no_link_cell,
        /* serving_new_epoch */ no_link_cell,
        /* not_serving       */ no_link_cell,
        /* silent            */ no_link_cell,
        /* distrusted        */ no_link_cell,
        /* connection_lost   */ no_link_cell,
    }},
}};
// clang-format on

}  // namespace

std::string_view to_string(link_state s) {
    switch (s) {
        case link_state::idle: return "idle";
        case link_state::probing: return "probing";
        case link_state::connecting: return "connecting";
        case link_state::confirming: return "confirming";
        case link_state::connected: return "connected";
        case link_state::reconnecting: return "reconnecting";
    }
    return "unknown";
}

std::string_view to_string(link_event e) {
    switch (e) {
        case link_event::start: return "start";
        case link_event::probe_done: return "probe_done";
        case link_event::connect_due: return "connect_due";
        case link_event::serving: return "serving";
        case link_event::serving_new_epoch: return "serving_new_epoch";
        case link_event::not_serving: return "not_serving";
        case link_event::silent: return "silent";
        case link_event::distrusted: return "distrusted";
        case link_event::connection_lost: return "connection_lost";
    }
    return "unknown";
}

link_step link_transition(link_state state, link_event event) {
    link_step step = table[static_cast<std::size_t>(state)][static_cast<std::size_t>(event)];
    if (!step.handled) step.next = state;
    return step;
}

link_event classify_pong(link_state s, std::optional<std::uint64_t> known_epoch, broker_state reported,
                         std::uint64_t epoch) {
    // handover still serves reads and answers; it stops only writes, which it answers RETRY-LATER.
    if (reported != broker_state::active && reported != broker_state::handover) return link_event::not_serving;
    if (s == link_state::connected && known_epoch && *known_epoch != epoch) return link_event::serving_new_epoch;
    return link_event::serving;
}

bool link_silent(const link_times& t, const link_timing& k, clock::time_point now) {
    return now - t.last_rx > k.attempt_timeout;
}

bool ping_due(const link_times& t, const link_timing& k, clock::time_point now) {
    return now - t.last_rx >= k.ping_interval && now - t.last_ping >= k.ping_interval;
}

bool back_from_absence(bool open, const link_times& t, const link_timing& k, clock::time_point now) {
    return open && now - t.last_serviced > k.ping_interval;
}

absence_verdict after_absence(const link_times& t, const link_timing& k, clock::time_point now) {
    // The broker had a whole attempt to answer our ping, however rarely we were called: it is silent.
    const bool asked_unanswered = t.ping_unanswered_since && now - *t.ping_unanswered_since > k.attempt_timeout;
    return asked_unanswered ? absence_verdict::silent : absence_verdict::fresh_start;
}

clock::time_point link_wake(link_state s, const link_times& t, const link_timing& k, clock::time_point until) {
    if (s == link_state::idle) return until;
    if (!link_open(s)) return std::min(until, t.connect_at);
    auto at = std::min(until, t.last_rx + k.attempt_timeout + milliseconds(1));
    return std::min(at, std::max(t.last_rx, t.last_ping) + k.ping_interval);
}

}  // namespace starbus::client_detail
