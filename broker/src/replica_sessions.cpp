// File: replica_sessions.cpp
#include "replica_sessions.hpp"

#include <algorithm>

namespace starbus {

replica_session& replica_sessions::open(const std::string& identity, const std::string& name, std::uint32_t rank,
                                        std::uint64_t session, steady_time now, const peer_view* peers) {
    std::erase_if(_sessions, [&](const replica_session& s) {
        return s.identity == identity || (s.name == name && !(peers && confirmed(s, *peers)));
    });
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

replica_session* replica_sessions::by_name(const std::string& name, const peer_view* peers) {
    replica_session* newest = nullptr;
    for (auto& s : _sessions) {
        if (s.name != name) continue;
        if (peers && confirmed(s, *peers)) return &s;
        newest = &s;
    }
    return newest;
}

ack_outcome replica_sessions::acknowledge(replica_session& s, std::uint64_t seq) {
    // A replica holds at most what it was sent: counting more would make the commit point run ahead of what
    // any replica holds (a peer posing as a broker acknowledged 2^62 and 60 acknowledged changes were lost).
    if (seq > s.sent) return ack_outcome::beyond_sent;
    s.acked = std::max(s.acked, seq);
    // A replica counts once it holds everything its catch-up carried, file content included: a returning
    // broker that fetches gigabytes must not make every write wait for it.
    if (s.synced || !s.streaming || s.acked < s.sync_seq) return ack_outcome::recorded;
    s.synced = true;
    return ack_outcome::synchronised;
}

bool replica_sessions::confirmed(const replica_session& s, const peer_view& peers) {
    const heartbeat* hb = peers.last(s.rank);
    return hb && hb->name == s.name && hb->repl_session == s.session;
}

void replica_sessions::prune(const peer_view& peers, steady_time now, std::chrono::milliseconds grace) {
    std::erase_if(_sessions, [&](const replica_session& s) {
        // A new session gets `grace` for the broker's heartbeat naming it to arrive (it travels on another
        // connection than the hello); an older one goes as soon as the heartbeats name another.
        if (confirmed(s, peers) || now - s.opened < grace) return false;
        return std::any_of(_sessions.begin(), _sessions.end(),
                           [&](const replica_session& o) { return o.name == s.name && confirmed(o, peers); });
    });
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
        if (!s.synced || !peers.alive(s.rank, now) || !confirmed(s, peers)) continue;
        if (mode == ack_mode::all) commit = std::min(commit, s.acked);
        else if (!first || s.rank < first->rank) first = &s;
    }
    if (first) commit = std::min(commit, first->acked);
    return commit;
}

std::size_t replica_sessions::synced_count(const peer_view& peers, steady_time now) const {
    return static_cast<std::size_t>(std::count_if(_sessions.begin(), _sessions.end(), [&](const replica_session& s) {
        return s.synced && peers.alive(s.rank, now) && confirmed(s, peers);
    }));
}

}  // namespace starbus
