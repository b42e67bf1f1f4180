// File: peer_view.cpp
#include "peer_view.hpp"

#include <algorithm>

#include "candidate_order.hpp"

namespace starbus {

peer_view::peer_view(const cluster_config& cluster, std::uint32_t my_rank)
    : _cluster(cluster), _my_rank(my_rank), _peers(cluster.brokers.size()) {}

bool peer_view::record(const heartbeat& hb, steady_time now) {
    if (hb.rank >= _peers.size() || hb.rank == _my_rank || _cluster.brokers[hb.rank].name != hb.name) return false;
    _peers[hb.rank].last = hb;
    _peers[hb.rank].heard_at = now;
    ++_peers[hb.rank].heard_count;
    return true;
}

void peer_view::shift_heard_times(steady_time::duration gap) {
    for (auto& p : _peers) {
        if (p.last) p.heard_at += gap;
        if (p.lost_at) *p.lost_at += gap;  // a loss seen before the gap stays after the heartbeat it followed
    }
}

void peer_view::connection_lost(std::uint32_t rank, steady_time now) {
    if (rank >= _peers.size() || rank == _my_rank || !_peers[rank].last) return;
    _peers[rank].lost_at = now;
}

bool peer_view::lost(std::uint32_t rank) const {
    if (rank >= _peers.size()) return false;
    const peer& p = _peers[rank];
    // The same turn may record the last heartbeat and then the loss (both at its `now`): lost.
    return p.last && p.lost_at && *p.lost_at >= p.heard_at;
}

bool peer_view::alive(std::uint32_t rank, steady_time now) const {
    if (rank >= _peers.size() || rank == _my_rank || !_peers[rank].last || lost(rank)) return false;
    return now - _peers[rank].heard_at < _cluster.expiry;
}

bool peer_view::alive(const std::string& name, steady_time now) const {
    const broker_info* b = _cluster.find(name);
    return b && alive(b->rank, now);
}

const heartbeat* peer_view::last(std::uint32_t rank) const {
    if (rank >= _peers.size() || !_peers[rank].last) return nullptr;
    return &*_peers[rank].last;
}

const heartbeat* peer_view::best_server(steady_time now) const {
    const heartbeat* best = nullptr;
    for (std::uint32_t r = 0; r < _peers.size(); ++r) {
        if (!alive(r, now)) continue;
        const heartbeat& hb = *_peers[r].last;
        if (hb.state != broker_state::active && hb.state != broker_state::handover) continue;
        if (!best || beats(claim_of(hb), claim_of(*best))) best = &hb;
    }
    return best;
}

std::uint64_t peer_view::max_epoch() const {
    std::uint64_t e = 0;
    for (const auto& p : _peers)
        if (p.last) e = std::max(e, p.last->epoch);
    return e;
}

bool peer_view::may_take_over(steady_time now) const {
    if (best_server(now)) return false;
    for (std::uint32_t r = 0; r < _my_rank; ++r)
        if (alive(r, now) && is_synchronised(_peers[r].last->state)) return false;
    return true;
}

bool peer_view::cold_start_choice(position mine, steady_time now) const {
    if (best_server(now)) return false;
    const bool i_am_fresh = mine.seq == 0 && mine.epoch == 0;
    bool everyone_heard = true;
    bool all_heard_fresh = i_am_fresh;
    bool lower_ranks_heard = true;
    for (std::uint32_t r = 0; r < _peers.size(); ++r) {
        if (r == _my_rank) continue;
        if (!alive(r, now)) {
            everyone_heard = false;
            if (r < _my_rank) lower_ranks_heard = false;
            continue;
        }
        const heartbeat& hb = *_peers[r].last;
        if (hb.seq != 0 || hb.last_epoch != 0) all_heard_fresh = false;
        // A better position elsewhere: that broker is the choice, not me.
        if (beats(held_by(hb), held_position{mine, _my_rank})) return false;
    }
    return everyone_heard || (all_heard_fresh && lower_ranks_heard);
}

std::vector<std::string> peer_view::silent_peers(steady_time now) const {
    std::vector<std::string> names;
    for (std::uint32_t r = 0; r < _peers.size(); ++r)
        if (r != _my_rank && !alive(r, now)) names.push_back(_cluster.brokers[r].name);
    return names;
}

}  // namespace starbus
