// File: follower.hpp
// A broker's link to the server it replicates: one DEALER to the server's
// request endpoint, the repl_hello that starts a session, the snapshot or
// delta that brings the local replica up to date, then the stream of changes
// it applies, writes to disk and acknowledges. Every session gets a fresh
// socket, so nothing from an abandoned session can be mistaken for the new one.
// Changes that install file versions pass through the content gate: applied
// once their content has been fetched (on the same socket) and stored.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>
#include <starbus/wire/messages.hpp>

#include "content_gate.hpp"
#include "local_replica.hpp"
#include "peer_view.hpp"

namespace starbus {

class follower {
  public:
    // What a message from the server means for the FSM.
    enum class outcome {
        nothing,        // applied or ignored; no event
        sync_complete,  // the replica now holds everything up to the catch-up position, files included
        sync_broken,    // a gap, a refusal or a protocol error: resync
        handover_go,    // the server handed its role to this broker
    };

    follower(zmq::context_t& ctx, std::string my_name, std::uint32_t my_rank, file_store& store,
             const file_settings& files, bool verify_sha256);
    // CURVE: connect to servers as a client holding `own`, checking each server's public key.
    void secure_with(const curve_key_pair& own) { _own_key = own; }

    // Starts a session with `server` (closing any previous one). The hello is
    // sent now, or after `min_gap` since the last one (no tight retry loops).
    void start(const broker_info& server, steady_time now, std::chrono::milliseconds min_gap);
    void stop();

    [[nodiscard]] bool running() const { return _phase != phase::idle; }
    // Caught up: holds everything up to the position the catch-up ended at.
    [[nodiscard]] bool synced() const { return _phase == phase::streaming && _caught_up; }
    [[nodiscard]] const std::string& server_name() const { return _server.name; }
    // The session id of the last REPL-HELLO sent (0 before the first): heartbeats announce it.
    [[nodiscard]] std::uint64_t session() const { return _session; }
    [[nodiscard]] zmq::socket_t* socket() { return _socket.get(); }
    // Highest seq the server says it has acknowledged (commit point).
    [[nodiscard]] std::uint64_t server_commit() const { return _server_commit; }
    // The server's last seq as far as this link knows it.
    [[nodiscard]] std::uint64_t server_seq() const { return _server_seq; }
    // Grows whenever the stream moves: a change received or file bytes
    // received (the stuck-stream rule watches it).
    [[nodiscard]] std::uint64_t progress() const;

    // Sends the hello when due; restarts the session when the server has not
    // answered it within `retry`; lets file fetches that wait for a retry go.
    void tick(const local_replica& replica, steady_time now, std::chrono::milliseconds retry);

    [[nodiscard]] outcome handle(const message& m, local_replica& replica, steady_time now);
    // A CHUNK from the server (decoded without copying its data).
    void on_chunk(const file_chunk_view& c);

    // After a batch of messages: apply what the gate lets through, make it
    // durable, acknowledge it, and ask for the next chunks.
    [[nodiscard]] outcome end_of_batch(local_replica& replica, steady_time now);

    // Files received and verified, for the installer; and their outcome.
    [[nodiscard]] std::vector<fetched_file> take_fetched() { return _gate.take_fetched(); }
    void installed(const std::string& hash, bool ok, const std::string& error, steady_time now) {
        _gate.installed(hash, ok, error, now);
        _gate_moved = true;
    }
    // Entries found without content at start-up.
    void note_missing(const std::vector<file_entry>& entries) { _gate.note_missing(entries); }
    // The changes of this replica's history that the server's lacks, found when a full snapshot named the
    // fork (docs/protocol.md "Reconciliation"): the reconciler keeps and replays them.
    [[nodiscard]] std::vector<change> take_orphans() {
        std::vector<change> out;
        out.swap(_orphans);
        return out;
    }

    [[nodiscard]] const content_gate& gate() const { return _gate; }
    // Nothing waits for content and nothing is being fetched.
    [[nodiscard]] bool nothing_pending() const { return _gate.idle(); }

    // The position handed over by handover_go (valid after outcome::handover_go).
    [[nodiscard]] position handover_position() const { return _handover_at; }

  private:
    enum class phase { idle, hello_due, awaiting, snapshot, delta, streaming };

    void open_socket();

    [[nodiscard]] outcome take_batch(const change_batch& b, const local_replica& replica);
    // SNAPSHOT-END of this session: a full snapshot goes to the gate (and what lay beyond the fork becomes
    // orphans); a delta must end where the replica is. Then the live stream follows.
    [[nodiscard]] outcome end_snapshot(const snapshot_end& end, local_replica& replica);
    void send_orders();

    zmq::context_t& _ctx;
    std::optional<curve_key_pair> _own_key;  // CURVE, when the cluster uses it
    std::string _my_name;
    std::uint32_t _my_rank;
    broker_info _server;
    std::unique_ptr<zmq::socket_t> _socket;
    phase _phase = phase::idle;
    std::uint64_t _session = 0;
    steady_time _hello_due{};
    steady_time _hello_sent{};
    std::vector<change> _snapshot;          // entries of a full snapshot being received
    std::uint64_t _server_commit = 0;
    std::uint64_t _server_seq = 0;
    std::uint64_t _acked = 0;               // last seq acknowledged to the server
    bool _applied = false;                  // something applied since the last ack
    std::uint64_t _catch_up_seq = 0;        // the snapshot_end's seq of this session
    bool _caught_up = false;                // the replica reached _catch_up_seq
    bool _gate_moved = false;               // something reached the gate: pump it
    bool _ack_due = false;                  // acknowledge even an unchanged seq (the catch-up is complete)
    std::uint64_t _received_seq = 0;        // last change received (waiting or applied)
    std::uint64_t _next_fetch_id = 0;
    content_gate _gate;
    position _handover_at;
    std::vector<change> _orphans;           // found at the last full snapshot's end, not yet taken
};

}  // namespace starbus
