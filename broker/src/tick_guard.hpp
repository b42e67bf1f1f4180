// File: tick_guard.hpp
// TILT, after Redis Sentinel: a broker that was frozen (SIGSTOP, a suspended
// VM, a debugger, a reactor turn that took far too long) wakes with every
// timer expired at once. Its peers look silent only because it was not
// listening, its own deadlines (start-up, stuck stream, handover) passed while
// nothing could happen. Acting on that would be acting on stale timing: a
// replica would raise server_lost, a backup take a vote, a starting broker
// stop listening, a server forget its replicas.
//
// The guard is fed each reactor turn's `now` (monotonic). A gap between two
// turns longer than freeze_threshold() is a freeze: the guard tilts. While
// tilted, the broker fires no event that rests on timing (rests_on_timing());
// the tilt ends once every peer that was heard before the gap has been heard
// again, or one expiry after the wake, whichever comes first (with nobody to
// hear from, only the expiry ends it). The caller also shifts its peers'
// last-heard times by the gap (peer_view::shift_heard_times), so that when the
// tilt ends on the expiry, a peer still unheard is silent by one expiry of this
// broker's own running time, as if the freeze had not happened (and likewise
// the time its replication stream last moved, for the stuck-stream rule).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <starbus/broker/fsm.hpp>

#include "peer_view.hpp"

namespace starbus {

// True for the events whose sensor rests on elapsed time or on a peer's silence, which a freeze makes
// stale: startup_expired, server_lost, successor_lost, handover_timeout, vote, cold_start_elected. Events
// that rest on something received (a heartbeat announcing a server, a message of the replication stream,
// a request) are evidence whatever the clock did. sync_broken is both: the follower's (a gap, an error) is
// evidence, the stuck-stream rule's is timing, so role_sensing holds that one back itself.
[[nodiscard]] bool rests_on_timing(fsm_event e);

class tick_guard {
  public:
    // What one turn changed.
    enum class change : std::uint8_t {
        none,     // no freeze, or still tilted
        entered,  // a freeze of `gap`: tilted from now (again, if it was)
        left,     // the tilt ended: timing is trusted again
    };
    struct turn {
        change what = change::none;
        steady_time::duration gap{};         // entered: how long the broker did not turn
        bool all_heard = false;              // left: every counted peer was heard (false: the expiry passed)
        std::vector<std::uint32_t> unheard;  // left on the expiry: the counted peers not heard since the wake
    };

    explicit tick_guard(std::chrono::milliseconds expiry);

    // Half an expiry. A shorter gap cannot make a peer heard within the heartbeat before it look silent
    // (the expiry is at least two heartbeats, so heartbeat + expiry/2 <= expiry); a longer one can. The
    // reactor turns at least every 100 ms and every quarter heartbeat, far below it.
    [[nodiscard]] std::chrono::milliseconds freeze_threshold() const { return _expiry / 2; }

    // Call once per reactor turn, with the turn's `now`, before anything of the turn is recorded in
    // `peers`. On change::entered the caller shifts peers' last-heard times by turn::gap.
    [[nodiscard]] turn observe(steady_time now, const peer_view& peers);

    // False while tilted: no event for which rests_on_timing() holds may be fired.
    [[nodiscard]] bool trusts_timing() const { return !_tilted; }
    [[nodiscard]] steady_time woke_at() const { return _woke_at; }

  private:
    // A peer heard before the gap, and how many of its heartbeats had been recorded by the wake.
    struct counted_peer {
        std::uint32_t rank = 0;
        std::uint64_t heard_count = 0;
    };

    std::chrono::milliseconds _expiry;
    bool _turned = false;  // observe() was called before: _last_turn holds its `now`
    steady_time _last_turn{};
    bool _tilted = false;
    steady_time _woke_at{};
    std::vector<counted_peer> _counted;
};

}  // namespace starbus
