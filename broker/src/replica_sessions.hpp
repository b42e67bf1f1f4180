// File: replica_sessions.hpp
// The serving broker's side of replication: one session per replica that said
// repl_hello, what was sent to it and what it acknowledged; and the rule that
// turns those acknowledgements into the commit point (what clients may be told
// is applied).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "peer_view.hpp"

namespace starbus {

struct replica_session {
    std::string identity;       // ROUTER routing id of the replica's DEALER
    std::string name;
    std::uint32_t rank = 0;
    std::uint64_t session = 0;  // the replica's id for this attempt, echoed in snapshot_end
    std::uint64_t sent = 0;     // last seq sent on this session
    std::uint64_t acked = 0;    // last seq the replica holds on disk
    bool streaming = false;     // snapshot_end sent: every new change is streamed to it
    std::uint64_t sync_seq = 0; // the snapshot_end's seq: once acked, the replica is synchronised
    bool synced = false;        // it acknowledged sync_seq (files included): counts for acknowledgements
    steady_time opened{};       // when its repl_hello arrived (its heartbeats may not have yet)
};

// What a REPL-ACK did to its session.
enum class ack_outcome {
    recorded,      // the session's acknowledged seq moved (or stayed)
    synchronised,  // and the replica is now synchronised
    beyond_sent,   // it acknowledged a seq never sent on this session: ignored (a bug, or a peer posing as a broker)
};

class replica_sessions {
  public:
    // A new session for `name`. It replaces the broker's older sessions, except one that the broker's own
    // heartbeats confirm (confirmed()): a second hello under a live replica's name never silently takes its
    // place; it counts for nothing until the heartbeats name it, and then the older one goes (prune()).
    replica_session& open(const std::string& identity, const std::string& name, std::uint32_t rank,
                          std::uint64_t session, steady_time now = {}, const peer_view* peers = nullptr);
    [[nodiscard]] replica_session* by_identity(const std::string& identity);
    // The broker's confirmed session if it has one, else its newest.
    [[nodiscard]] replica_session* by_name(const std::string& name, const peer_view* peers = nullptr);
    // Records a REPL-ACK (never beyond what the session was sent).
    [[nodiscard]] ack_outcome acknowledge(replica_session& s, std::uint64_t seq);
    // True when the broker's latest heartbeat (from its own heartbeat port) names this session as its own.
    [[nodiscard]] static bool confirmed(const replica_session& s, const peer_view& peers);
    // Drops the sessions of brokers whose heartbeats confirm another of their sessions, once they are older
    // than `grace` (a new session's confirmation travels on the heartbeat port, and may come after it).
    void prune(const peer_view& peers, steady_time now, std::chrono::milliseconds grace);
    // Forgets the sessions of replicas silent for four expiries (or never
    // heard within one expiry of their hello); returns their names.
    std::vector<std::string> drop_silent(const peer_view& peers, steady_time now, std::chrono::milliseconds expiry);
    void clear() { _sessions.clear(); }

    // The highest seq that may be acknowledged: durable locally and held by
    // the replicas that `mode` requires among the live, confirmed, synchronised ones.
    [[nodiscard]] std::uint64_t committable(std::uint64_t durable_seq, ack_mode mode, const peer_view& peers,
                                            steady_time now) const;
    // Number of live, confirmed, synchronised replicas.
    [[nodiscard]] std::size_t synced_count(const peer_view& peers, steady_time now) const;

    [[nodiscard]] std::vector<replica_session>& all() { return _sessions; }

  private:
    std::vector<replica_session> _sessions;  // few: one per broker at most
};

}  // namespace starbus
