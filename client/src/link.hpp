// File: link.hpp
// The client session's link to the cluster as an explicit state machine
// (docs/protocol.md "Client behaviour"): which broker the DEALER talks to,
// and whether that broker said it serves. The table (link.cpp) is a pure
// function (state, event) -> (next state, actions, why), and the timer rules
// (when to ping, when a broker counts as silent, when to wake) are pure
// functions of the link's timestamps and `now`. No sockets, no clock reads:
// the session (session.cpp) feeds events in and carries the actions out,
// and tests/unit/test_client_link.cpp checks every cell and drives the
// timers with a fake clock.
//
//   idle --start--> probing --probe_done--> connecting --connect_due--> confirming
//   confirming --serving--> connected
//   confirming|connected --not_serving|silent|distrusted|connection_lost--> reconnecting
//   reconnecting --connect_due--> confirming
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include <starbus/wire/vocabulary.hpp>

namespace starbus::client_detail {

using clock = std::chrono::steady_clock;

enum class link_state : std::uint8_t {
    idle,          // not started: nothing has needed the server yet (no socket open)
    probing,       // first contact: asking every broker at once who serves
    connecting,    // no DEALER yet: connect to the walk's broker when due (at once after the probe)
    confirming,    // DEALER open to a broker that has not yet said it serves; pings ask it to
    connected,     // the broker on the DEALER said it serves: requests go to it
    reconnecting,  // left a broker: connect to the next one when the walk's pause is over
};
inline constexpr int link_state_count = 6;

enum class link_event : std::uint8_t {
    start,              // a request, subscription or mirror needs the server
    probe_done,         // the first-contact probe answered (or timed out); the walk points where it said
    connect_due,        // the time to open the DEALER to the walk's broker has come
    serving,            // the broker said it serves (a PONG active/handover), at the epoch we know or a first one
    serving_new_epoch,  // the confirmed server said it serves at another epoch: it restarted or took over again
    not_serving,        // the broker said it does not serve (a PONG, or ERROR NOT-SERVING), maybe naming who does
    silent,             // the broker was silent for a whole attempt timeout
    distrusted,         // the application saw the server misbehave (e.g. refuse a dump as not serving)
    connection_lost,    // the DEALER's connection closed or was refused: no broker process is there now
};
inline constexpr int link_event_count = 9;

[[nodiscard]] std::string_view to_string(link_state s);
[[nodiscard]] std::string_view to_string(link_event e);

// What the session does on a transition, in this order when several are set.
namespace link_action {
inline constexpr std::uint32_t none = 0;
inline constexpr std::uint32_t probe = 1u << 0;        // ask every broker who serves; point the walk there
inline constexpr std::uint32_t mark_silent = 1u << 1;  // the walk skips this broker for the rest of its pass
inline constexpr std::uint32_t leave = 1u << 2;        // close the DEALER (server_lost if it served), walk on
inline constexpr std::uint32_t open = 1u << 3;         // open the DEALER, re-send everything, ping it
inline constexpr std::uint32_t replay = 1u << 4;       // ask the same server again for everything unanswered
inline constexpr std::uint32_t confirm = 1u << 5;      // use this broker as the server; announce it if new
}  // namespace link_action

// One cell of the table.
struct link_step {
    link_state next = link_state::idle;
    std::uint32_t actions = link_action::none;
    bool handled = false;   // false: the event means nothing in this state (stay, do nothing)
    std::string_view why;   // the rule's reason, for logs and tests
};

// The table: what `event` does in `state`.
[[nodiscard]] link_step link_transition(link_state state, link_event event);

// ---- pure decisions about the link ----

// Whether a DEALER is open in this state (a broker is being talked to).
[[nodiscard]] constexpr bool link_open(link_state s) {
    return s == link_state::confirming || s == link_state::connected;
}
// A PING asks the broker to serve (wants_service, a vote if its own server
// is silent too) until this connection's broker is confirmed as the server:
// until then the client has none it can use.
[[nodiscard]] constexpr bool wants_service(link_state s) { return s != link_state::connected; }

// What a PONG means for the link: `reported` is the state the broker gave,
// `known_epoch` the epoch of the confirmed server on this connection (if any).
[[nodiscard]] link_event classify_pong(link_state s, std::optional<std::uint64_t> known_epoch,
                                       broker_state reported, std::uint64_t epoch);

// The link's clocks: when the current broker was last heard and pinged.
struct link_times {
    clock::time_point connect_at{};     // when closed: connect then
    // Last frame from the current broker; or when the DEALER connected (or, watched by attachment, when its
    // connection came up): the attempt counts from then.
    clock::time_point last_rx{};
    clock::time_point last_ping{};
    // The first ping sent since the current broker was last heard (nullopt:
    // none outstanding). Unlike last_rx it is never refreshed by a long
    // absence, so a client serviced rarely still finds a dead server.
    std::optional<clock::time_point> ping_unanswered_since;
    clock::time_point last_serviced{};  // end of the last wait: silence counts only while serviced
};

// The two intervals every timer rule uses.
struct link_timing {
    std::chrono::milliseconds attempt_timeout{250};  // silence after which a broker is left
    std::chrono::milliseconds ping_interval{83};     // an idle link is pinged this often
};

// The broker on the open link has been silent longer than an attempt.
[[nodiscard]] bool link_silent(const link_times& t, const link_timing& k, clock::time_point now);
// An open, idle link needs a ping now.
[[nodiscard]] bool ping_due(const link_times& t, const link_timing& k, clock::time_point now);

// Silence counts only while we listen. On entering service() after the
// application kept the client away from its sockets longer than a ping
// interval, the session first reads what arrived meanwhile, then asks
// after_absence() what the wait means.
[[nodiscard]] bool back_from_absence(bool open, const link_times& t, const link_timing& k, clock::time_point now);
enum class absence_verdict : std::uint8_t {
    silent,       // a ping went unanswered for a whole attempt (the broker had all that time): leave it
    fresh_start,  // give the broker a fresh attempt to answer, and ping it
};
[[nodiscard]] absence_verdict after_absence(const link_times& t, const link_timing& k, clock::time_point now);

// When the link next needs attention (at most `until`).
[[nodiscard]] clock::time_point link_wake(link_state s, const link_times& t, const link_timing& k,
                                          clock::time_point until);

}  // namespace starbus::client_detail
