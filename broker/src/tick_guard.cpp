// File: tick_guard.cpp
// The freeze detector and its way out (tick_guard.hpp). Pure: it reads the
// peer view and the `now` it is given, never the clock.
#include "tick_guard.hpp"

#include <algorithm>

namespace starbus {

bool rests_on_timing(fsm_event e) {
    switch (e) {
        case fsm_event::startup_expired:     // one expiry of listening
        case fsm_event::server_lost:         // the server's silence
        case fsm_event::successor_lost:      // the successor's silence, or ten expiries of handover
        case fsm_event::handover_timeout:    // the same, before HANDOVER-GO
        case fsm_event::vote:                // needs the server silent
        case fsm_event::cold_start_elected:  // needs every broker that must be heard to be heard now
            return true;
        default: return false;
    }
}

tick_guard::tick_guard(std::chrono::milliseconds expiry) : _expiry(expiry) {}

tick_guard::turn tick_guard::observe(steady_time now, const peer_view& peers) {
    turn t;
    if (!_turned) {
        _turned = true;
        _last_turn = now;
        return t;
    }
    const steady_time before = _last_turn;
    const auto gap = now - before;
    _last_turn = std::max(_last_turn, now);
    if (gap > freeze_threshold()) {
        // The peers heard before the gap are the ones whose voice says the broker listens again. Counted
        // on the clock of the last turn, before the caller shifts their times.
        _counted.clear();
        for (std::uint32_t r = 0; r < peers.size(); ++r)
            if (peers.alive(r, before)) _counted.push_back({r, peers.heard_count(r)});
        _tilted = true;
        _woke_at = now;
        t.what = change::entered;
        t.gap = gap;
        return t;
    }
    if (!_tilted) return t;
    bool all_heard = !_counted.empty();
    for (const auto& p : _counted)
        if (peers.heard_count(p.rank) == p.heard_count) all_heard = false;
    if (all_heard || now - _woke_at >= _expiry) {
        _tilted = false;
        t.what = change::left;
        t.all_heard = all_heard;
        if (!all_heard)
            for (const auto& p : _counted)
                if (peers.heard_count(p.rank) == p.heard_count) t.unheard.push_back(p.rank);
    }
    return t;
}

}  // namespace starbus
