// File: write_path.hpp
// The serving broker's write path: every change a client makes goes through
// begin() (may this broker take it?), commit() (checked, applied, queued for
// the disk and the replicas) and waits in `pending` until the commit point
// passes it; then the client hears ACK. Owns the commit point, the applied but
// unacknowledged changes and who waits for which. It does not decide the
// commit point (the replication server does, from the replicas' ACKs) nor send
// changes to replicas or subscribers: it hands them over.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <starbus/config/cluster_config.hpp>

#include "broker_sink.hpp"
#include "local_replica.hpp"

namespace starbus {

class write_path {
  public:
    write_path(local_replica& replica, broker_sink& out, const cluster_config& cluster, const broker_info& me);

    // What every write goes through, in this order: serving (`active`); a retry of a request already applied is
    // answered with its position (whatever its class: it was accepted once); the primary for configuration
    // changes; the when_alone rule. True: the caller applies it; false: it was answered. `what` names the
    // changes in the refusal ("configuration changes").
    [[nodiscard]] bool begin(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
                             change_class cls, bool active, std::size_t synced_replicas, const char* what);
    // A retry of an applied request is answered (now or at its commit). True: answered.
    [[nodiscard]] bool answer_retry(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id);
    // Applies a change the server made and makes `identity` wait for its commit (nobody when it is empty: a
    // replayed orphan). A change that check_change() refuses (what every replica would refuse) is not logged:
    // `identity` gets the error and the result is false.
    [[nodiscard]] bool commit(change c, const std::string& identity, std::uint64_t request_id);
    // Acknowledges a request at the end of the batch, with the position it was applied at.
    void ack_now(const std::string& identity, std::uint64_t request_id, position at);

    // when_alone = "refuse" with no live synchronised replica: nothing may be acknowledged (nor accepted),
    // as it would rest on this broker's log alone.
    [[nodiscard]] bool refuses_alone(std::size_t synced_replicas) const;

    // The changes applied since the last call, for the replicas (seq order).
    [[nodiscard]] std::vector<change> take_batch();
    // How many changes take_batch() would return.
    [[nodiscard]] std::size_t batch_size() const { return _batch.size(); }
    // Moves the commit point to `commit` (> commit_seq()) and returns the changes it passed (seq order), for
    // mirrors and subscribers; their clients are answered by answer_committed().
    [[nodiscard]] std::vector<change> take_committed(std::uint64_t commit);
    // One ACK per client for everything of theirs up to the commit point.
    void answer_committed();
    // Sends the ACKs of ack_now(): one per identity and position.
    void flush_immediate_acks();

    // This broker starts to serve: what its predecessor had not acknowledged (after `inherited_commit`) waits
    // for this broker's own ack rule.
    void start_serving(std::uint64_t inherited_commit);
    // This broker stops serving: nobody waits any more (clients retry on the next server).
    void stop_serving();

    [[nodiscard]] std::uint64_t commit_seq() const { return _commit_seq; }
    // Changes refused by check_change() so far.
    [[nodiscard]] std::uint64_t refused_changes() const { return _refused; }

  private:
    // A write waiting for its commit before the client hears "ok".
    struct pending_reply {
        std::string identity;
        std::uint64_t request_id = 0;
        std::uint64_t epoch = 0;  // the epoch of the change it waits for (with the map's seq: its position)
    };

    local_replica& _replica;
    broker_sink& _out;
    const cluster_config& _cluster;
    const broker_info& _me;
    std::uint64_t _commit_seq = 0;                         // highest seq acknowledged to clients
    std::deque<change> _uncommitted;                       // applied, not yet acknowledged (seq order)
    std::vector<change> _batch;                            // applied in this batch, not yet sent to replicas
    // Who waits for which seq: the writers of this server's changes in seq order (appended as they are
    // applied, so a deque and no node per write), and retries of changes applied earlier (any seq).
    std::deque<std::pair<std::uint64_t, pending_reply>> _pending;
    std::multimap<std::uint64_t, pending_reply> _pending_retries;
    // Acknowledgements answered at the end of the batch: identity -> (request id, its position).
    std::map<std::string, std::vector<std::pair<std::uint64_t, position>>> _immediate_acks;
    std::uint64_t _refused = 0;
};

}  // namespace starbus
