// File: replication_server.hpp
// The serving broker's side of replication (docs/protocol.md "Replication"):
// a replica says REPL-HELLO and gets a snapshot or a delta, then every change
// the server applies (CHANGES), and acknowledges what it holds on disk
// (REPL-ACK). Owns the replication sessions; says up to where the cluster's
// ack rule lets the write path acknowledge; takes a synchronised replica's
// HANDOVER request and sends it HANDOVER-GO. Deciding to hand over is the role
// logic's.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <starbus/config/cluster_config.hpp>

#include "broker_sink.hpp"
#include "local_replica.hpp"
#include "peer_view.hpp"
#include "replica_sessions.hpp"

namespace starbus {

class replication_server {
  public:
    replication_server(const local_replica& replica, const peer_view& peers, broker_sink& out,
                       const cluster_config& cluster, const broker_info& me);

    // REPL-HELLO: a session, and the snapshot or delta from the replica's position (`commit_seq`: the commit
    // point the snapshot's CHANGES carry). Refused when it does not name another broker of this cluster;
    // NOT_SERVING unless `active`.
    void on_hello(const std::string& identity, const repl_hello& r, bool active, std::uint64_t commit_seq,
                  steady_time now);
    // REPL-ACK: what a replica holds on disk.
    void on_ack(const std::string& identity, const repl_ack& r);
    // HANDOVER: the name of the successor when the asker may take the role (a confirmed, synchronised replica
    // of lower rank), else nothing (answered or ignored here).
    [[nodiscard]] std::optional<std::string> on_handover_request(const std::string& identity,
                                                                 const handover_request& r);
    // HANDOVER-GO to the successor's session, naming the last position it must hold.
    void send_handover_go(const std::string& successor);

    // Streams the changes the server applied in this batch to every streaming session (taken by value: the
    // last session gets the batch itself, the others a copy).
    void replicate(std::vector<change> batch, std::uint64_t commit_seq);
    // The highest seq the write path may acknowledge: `durable_seq` and what the ack rule's replicas hold.
    [[nodiscard]] std::uint64_t committable(std::uint64_t durable_seq, steady_time now) const;
    // Live, confirmed, synchronised replicas.
    [[nodiscard]] std::size_t synced_count(steady_time now) const;
    // The successor's session (confirmed if it has one), for the role logic's handover checks.
    [[nodiscard]] const replica_session* session_of(const std::string& name) const;

    // Drops superseded sessions and those of silent replicas (once per reactor tick).
    void tick(steady_time now);
    // This broker stops (or starts) serving: no session survives.
    void clear() { _sessions.clear(); }
    // ACKs that named a seq never sent on their session (a bug, or a peer posing as a broker).
    [[nodiscard]] std::uint64_t bad_acks() const { return _bad_acks; }

  private:
    const local_replica& _replica;
    const peer_view& _peers;
    broker_sink& _out;
    const cluster_config& _cluster;
    const broker_info& _me;
    // mutable: by_name() prefers the confirmed session, which a const query needs too.
    mutable replica_sessions _sessions;
    std::uint64_t _bad_acks = 0;
};

}  // namespace starbus
