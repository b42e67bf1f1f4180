// File: replica_sessions.cpp
#include "replica_sessions.hpp"

#include <algorithm>

namespace starbus {

replica_session& replica_sessions::open(const std::string& identity, const std::string& name, std::uint32_t rank,
                                        std::uint64_t session, steady_time now) {
    std::erase_if(_sessions, [&](const replica_session& s) { return s.name == name || s.identity == identity; });
    replica_session s;
    s.identity = identity;
    s.name = name;
    s.rank = rank;
    s.session = session;
    s.opened = now;
    _sessions.push_back(std::move(s));
    return _sessions.back();
}

replica_session* replica_sessions::by_identity(const std::string& identity) {
    for (auto& s : _sessions)
        if (s.identity == identity) return &s;
    return nullptr;
}

replica_session* replica_sessions::by_name(const std::string& name) {
    for (auto& s : _sessions)
        if (s.name == name) return &s;
    return nullptr;
}

bool replica_sessions::acknowledge(replica_session& s, std::uint64_t seq) {
    s.acked = std::max(s.acked, seq);
    // A replica counts once it holds everything its catch-up carried, file content included: a returning
    // broker that fetches gigabytes must not make every write wait for it.
    if (s.synced || !s.streaming || s.acked < s.sync_seq) return false;
    s.synced = true;
    return true;
}

std::vector<std::string> replica_sessions::drop_silent(const peer_view& peers, steady_time now,
                                                       std::chrono::milliseconds expiry) {
    std::vector<std::string> dropped;
    std::erase_if(_sessions, [&](const replica_session& s) {
        // A replica that just said hello may not have been heard on the heartbeat socket yet, and one that
        // missed a few heartbeats on a loaded machine is still streamed to (it does not count for acks while
        // silent: see committable()). Only a long silence ends its session.
        if (peers.alive(s.rank, now) || now - s.opened < expiry) return false;
        if (const heartbeat* hb = peers.last(s.rank); hb && now - peers.heard_at(s.rank) < 4 * expiry) return false;
        dropped.push_back(s.name);
        return true;
    });
    return dropped;
}

std::uint64_t replica_sessions::committable(std::uint64_t durable_seq, ack_mode mode, const peer_view& peers,
                                            steady_time now) const {
    if (mode == ack_mode::local) return durable_seq;
    std::uint64_t commit = durable_seq;
    const replica_session* first = nullptr;
    for (const auto& s : _sessions) {
        if (!s.synced || !peers.alive(s.rank, now)) continue;
        if (mode == ack_mode::all) commit = std::min(commit, s.acked);
        else if (!first || s.rank < first->rank) first = &s;
    }
    if (first) commit = std::min(commit, first->acked);
    return commit;
}

std::size_t replica_sessions::synced_count(const peer_view& peers, steady_time now) const {
    return static_cast<std::size_t>(std::count_if(_sessions.begin(), _sessions.end(), [&](const replica_session& s) {
        return s.synced && peers.alive(s.rank, now);
    }));
}

}  // namespace starbus
