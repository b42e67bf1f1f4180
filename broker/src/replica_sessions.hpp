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

class replica_sessions {
  public:
    // A new session for `name`, replacing any older one of the same broker.
    replica_session& open(const std::string& identity, const std::string& name, std::uint32_t rank,
                          std::uint64_t session, steady_time now = {});
    [[nodiscard]] replica_session* by_identity(const std::string& identity);
    [[nodiscard]] replica_session* by_name(const std::string& name);
    // Records a REPL-ACK; returns true when it made the session synchronised.
    bool acknowledge(replica_session& s, std::uint64_t seq);
    // Forgets the sessions of replicas silent for four expiries (or never
    // heard within one expiry of their hello); returns their names.
    std::vector<std::string> drop_silent(const peer_view& peers, steady_time now, std::chrono::milliseconds expiry);
    void clear() { _sessions.clear(); }

    // The highest seq that may be acknowledged: durable locally and held by
    // the replicas that `mode` requires among the live synchronised ones.
    [[nodiscard]] std::uint64_t committable(std::uint64_t durable_seq, ack_mode mode, const peer_view& peers,
                                            steady_time now) const;
    // Number of live synchronised replicas.
    [[nodiscard]] std::size_t synced_count(const peer_view& peers, steady_time now) const;

    [[nodiscard]] std::vector<replica_session>& all() { return _sessions; }

  private:
    std::vector<replica_session> _sessions;  // few: one per broker at most
};

}  // namespace starbus
