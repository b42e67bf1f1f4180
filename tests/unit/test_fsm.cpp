// File: test_fsm.cpp
// The broker's role FSM, cell by cell. The expected table below is written out
// by hand in the notation of docs/protocol.md ("next/action+action", "—" for
// an ignored event), never built by calling the code under test; the rule
// tests quote the protocol and check the rule over all 108 cells.
#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <starbus/broker/fsm.hpp>

using namespace starbus;

namespace {

// The tables below are laid out by hand.
// clang-format off
constexpr std::array all_states{broker_state::starting, broker_state::stalled, broker_state::syncing,
                                broker_state::passive,  broker_state::active,  broker_state::handover};

constexpr std::array all_events{fsm_event::startup_expired,     fsm_event::server_seen,      fsm_event::sync_complete,
                                fsm_event::sync_broken,         fsm_event::server_lost,      fsm_event::vote,
                                fsm_event::cold_start_elected,  fsm_event::handover_requested,
                                fsm_event::successor_caught_up, fsm_event::successor_active, fsm_event::handover_timeout,
                                fsm_event::handover_go,         fsm_event::force,            fsm_event::change_refused,
                                fsm_event::successor_lost,      fsm_event::nobody_to_follow, fsm_event::handover_due,
                                fsm_event::go_unanswered};

static_assert(all_states.size() == broker_state_count);
static_assert(all_events.size() == fsm_event_count);

// The protocol table, as in docs/protocol.md. Columns in fsm_event order:
// startup_expired, server_seen, sync_complete, sync_broken, server_lost, vote, cold_start_elected,
// handover_requested, successor_caught_up, successor_active, handover_timeout, handover_go, force, change_refused,
// successor_lost, nobody_to_follow, handover_due, go_unanswered.
// "—": ignored (stay, no action). "passive" alone: handled, stay, no action.
constexpr std::string_view _ = "—";
const std::array<std::array<std::string_view, fsm_event_count>, broker_state_count> expected_table{{
    /* starting */ {"stalled", "syncing/start_sync", _, _, _, _, _, _, _, _, _, _, "active/raise_epoch", _,
                    _, _, _, _},
    /* stalled  */ {_, "syncing/start_sync", _, _, _, _, "active/raise_epoch", _, _, _, _, _, "active/raise_epoch", _,
                    _, _, _, _},
    /* syncing  */ {_, "syncing/start_sync", "passive/request_handover", "syncing/start_sync", "stalled/stop_sync", _,
                    _, _, _, _, _, _, "active/stop_sync+raise_epoch", "stalled/stop_sync",
                    _, "stalled/stop_sync", _, _},
    /* passive  */ {_, "syncing/start_sync", _, "syncing/start_sync", "passive", "active/stop_sync+raise_epoch", _, _, _,
                    _, _, "active/stop_sync+raise_epoch", "active/stop_sync+raise_epoch", "stalled/stop_sync",
                    _, _, "passive/request_handover", _},
    /* active   */ {_, "syncing/start_sync", _, _, _, _, _, "handover/stop_writes", _, _, _, _, _, _,
                    _, _, _, _},
    /* handover */ {_, "syncing/start_sync", _, _, _, _, _, _, "handover/send_handover_go",
                    "syncing/start_sync", "active/resume_writes", _, _, _,
                    "passive", _, _, "handover/send_handover_go"},
}};
// clang-format on

// The test's own vocabulary, so that a wrong to_string() cannot hide a wrong cell.
const std::map<std::string, broker_state, std::less<>> state_by_name{
    {"starting", broker_state::starting}, {"stalled", broker_state::stalled}, {"syncing", broker_state::syncing},
    {"passive", broker_state::passive},   {"active", broker_state::active},   {"handover", broker_state::handover},
};
const std::map<std::string, std::uint32_t, std::less<>> action_by_name{
    {"start_sync", fsm_action::start_sync},
    {"stop_sync", fsm_action::stop_sync},
    {"raise_epoch", fsm_action::raise_epoch},
    {"request_handover", fsm_action::request_handover},
    {"send_handover_go", fsm_action::send_handover_go},
    {"stop_writes", fsm_action::stop_writes},
    {"resume_writes", fsm_action::resume_writes},
};

struct expected_cell {
    bool handled = false;
    broker_state next = broker_state::starting;
    std::uint32_t actions = fsm_action::none;
};

expected_cell parse_cell(std::string_view text, broker_state state) {
    if (text == _) return {false, state, fsm_action::none};
    expected_cell c;
    c.handled = true;
    auto slash = text.find('/');
    auto state_name = text.substr(0, slash);
    auto s = state_by_name.find(state_name);
    REQUIRE(s != state_by_name.end());
    c.next = s->second;
    if (slash == std::string_view::npos) return c;
    auto rest = text.substr(slash + 1);
    while (!rest.empty()) {
        auto plus = rest.find('+');
        auto name = rest.substr(0, plus);
        auto a = action_by_name.find(name);
        REQUIRE(a != action_by_name.end());
        c.actions |= a->second;
        rest = plus == std::string_view::npos ? std::string_view{} : rest.substr(plus + 1);
    }
    return c;
}

bool is_follower(broker_state s) { return s == broker_state::syncing || s == broker_state::passive; }
bool serves(broker_state s) { return s == broker_state::active || s == broker_state::handover; }

}  // namespace

TEST_CASE("fsm: every cell of the table matches docs/protocol.md") {
    int checked = 0;
    for (std::size_t si = 0; si < all_states.size(); ++si) {
        for (std::size_t ei = 0; ei < all_events.size(); ++ei) {
            const auto state = all_states[si];
            const auto event = all_events[ei];
            const auto expected = parse_cell(expected_table[si][ei], state);
            const auto step = transition(state, event);
            INFO(to_string(state) << " + " << to_string(event) << ": expected " << expected_table[si][ei] << ", got "
                                  << to_string(step.next) << "/" << describe_actions(step.actions)
                                  << (step.handled ? "" : " (ignored)"));
            CHECK(step.handled == expected.handled);
            CHECK(step.next == expected.next);
            CHECK(step.actions == expected.actions);
            // Every cell, ignored or not, has a line for the log.
            CHECK_FALSE(step.why.empty());
            ++checked;
        }
    }
    CHECK(checked == 108);  // 6 states x 18 events
}

TEST_CASE("fsm: ignored events stay put and do nothing") {
    for (auto state : all_states)
        for (auto event : all_events) {
            const auto step = transition(state, event);
            if (step.handled) continue;
            INFO(to_string(state) << " + " << to_string(event));
            CHECK(step.next == state);
            CHECK(step.actions == fsm_action::none);
        }
}

TEST_CASE("fsm: to_string names every state and every event") {
    const std::array<std::string_view, broker_state_count> state_names{"starting", "stalled", "syncing",
                                                                       "passive",  "active",  "handover"};
    for (std::size_t i = 0; i < all_states.size(); ++i) CHECK(to_string(all_states[i]) == state_names[i]);

    // clang-format off
    const std::array<std::string_view, fsm_event_count> event_names{
        "startup_expired",     "server_seen",      "sync_complete",    "sync_broken", "server_lost",
        "vote",                "cold_start_elected", "handover_requested", "successor_caught_up",
        "successor_active",    "handover_timeout", "handover_go",      "force",       "change_refused",
        "successor_lost",      "nobody_to_follow", "handover_due",     "go_unanswered"};
    // clang-format on
    std::set<std::string_view> distinct;
    for (std::size_t i = 0; i < all_events.size(); ++i) {
        CHECK(to_string(all_events[i]) == event_names[i]);
        distinct.insert(to_string(all_events[i]));
    }
    CHECK(distinct.size() == all_events.size());
    CHECK(to_string(static_cast<fsm_event>(200)) == "unknown");
}

TEST_CASE("fsm: describe_actions joins action names in bit order") {
    CHECK(describe_actions(fsm_action::none) == "none");
    CHECK(describe_actions(fsm_action::start_sync) == "start_sync");
    CHECK(describe_actions(fsm_action::stop_sync) == "stop_sync");
    CHECK(describe_actions(fsm_action::raise_epoch) == "raise_epoch");
    CHECK(describe_actions(fsm_action::request_handover) == "request_handover");
    CHECK(describe_actions(fsm_action::send_handover_go) == "send_handover_go");
    CHECK(describe_actions(fsm_action::stop_writes) == "stop_writes");
    CHECK(describe_actions(fsm_action::resume_writes) == "resume_writes");
    CHECK(describe_actions(fsm_action::raise_epoch | fsm_action::start_sync) == "start_sync+raise_epoch");
    CHECK(describe_actions(fsm_action::stop_sync | fsm_action::raise_epoch) == "stop_sync+raise_epoch");
    // A bit that is no action is shown, not hidden.
    CHECK(describe_actions(1u << 9) == "bit9");
}

TEST_CASE("fsm: out-of-range input is ignored, not undefined") {
    const auto step = transition(static_cast<broker_state>(99), fsm_event::force);
    CHECK_FALSE(step.handled);
    CHECK(step.next == static_cast<broker_state>(99));
    CHECK(step.actions == fsm_action::none);
    CHECK_FALSE(transition(broker_state::active, static_cast<fsm_event>(99)).handled);
}

TEST_CASE("fsm: protocol rules hold in every cell") {
    for (auto state : all_states) {
        for (auto event : all_events) {
            const auto step = transition(state, event);
            INFO(to_string(state) << " + " << to_string(event) << " -> " << to_string(step.next) << "/"
                                  << describe_actions(step.actions));

            // "A broker that is not synchronised never becomes active except by force."
            // protocol.md makes one exception: a cold-start election, which proves that no
            // broker that must be heard holds more than the winner.
            if (!is_synchronised(state) && step.next == broker_state::active)
                CHECK((event == fsm_event::force ||
                       (state == broker_state::stalled && event == fsm_event::cold_start_elected)));

            // "The only way out of active is server_seen or handover."
            if (state == broker_state::active && step.next != broker_state::active)
                CHECK((event == fsm_event::server_seen || event == fsm_event::handover_requested));

            // "A newly started broker waits one expiry before it MAY serve" (force aside).
            if (state == broker_state::starting && step.next == broker_state::active) CHECK(event == fsm_event::force);

            // "Every takeover raises the epoch": a broker that starts serving raises it, and
            // only then; a server that keeps the role (handover timeout) keeps its epoch.
            const bool takeover = !serves(state) && step.next == broker_state::active;
            CHECK(((step.actions & fsm_action::raise_epoch) != 0) == takeover);

            // "A broker that stops following a server closes its replication session."
            if (is_follower(state) && !is_follower(step.next)) CHECK((step.actions & fsm_action::stop_sync) != 0);

            // "A broker hearing a better server follows it", from every state.
            if (event == fsm_event::server_seen) {
                CHECK(step.next == broker_state::syncing);
                CHECK((step.actions & fsm_action::start_sync) != 0);
            }

            // "Only handover stops writes; only leaving handover for active resumes them."
            if ((step.actions & fsm_action::stop_writes) != 0) CHECK(step.next == broker_state::handover);
            if ((step.actions & fsm_action::resume_writes) != 0)
                CHECK((state == broker_state::handover && step.next == broker_state::active));

            // "Passive, orphaned, waits for a vote": silence alone never makes a broker serve.
            if (event == fsm_event::server_lost && !serves(state)) CHECK(step.next != broker_state::active);

            // "A broker that has sent HANDOVER-GO MUST NOT take writes again without a new takeover."
            if (state == broker_state::handover && event == fsm_event::successor_lost)
                CHECK(step.next != broker_state::active);

            // server_lost is the replica's event only: a server's silent successor is successor_lost.
            if (event == fsm_event::server_lost && step.handled) CHECK(is_follower(state));

            // Events that only repeat a message change no state.
            if ((event == fsm_event::handover_due || event == fsm_event::go_unanswered) && step.handled)
                CHECK(step.next == state);
        }
    }
}
