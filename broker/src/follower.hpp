// File: follower.hpp
// A broker's link to the server it replicates: one DEALER to the server's
// request endpoint, the repl_hello that starts a session, the snapshot or
// delta that brings the local replica up to date, then the stream of changes
// it applies, writes to disk and acknowledges. Every session gets a fresh
// socket, so nothing from an abandoned session can be mistaken for the new one.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <starbus/common/cluster_config.hpp>
#include <starbus/common/messages.hpp>

#include "local_replica.hpp"
#include "peer_view.hpp"

namespace starbus {

class follower {
  public:
    // What a message from the server means for the FSM.
    enum class outcome {
        nothing,        // applied or ignored; no event
        sync_complete,  // the replica now holds everything the server had sent
        sync_broken,    // a gap, a refusal or a protocol error: resync
        handover_go,    // the server handed its role to this broker
    };

    follower(zmq::context_t& ctx, std::string my_name, std::uint32_t my_rank);

    // Starts a session with `server` (closing any previous one). The hello is
    // sent now, or after `min_gap` since the last one (no tight retry loops).
    void start(const broker_info& server, steady_time now, std::chrono::milliseconds min_gap);
    void stop();

    [[nodiscard]] bool running() const { return _phase != phase::idle; }
    [[nodiscard]] bool synced() const { return _phase == phase::streaming; }
    [[nodiscard]] const std::string& server_name() const { return _server.name; }
    [[nodiscard]] zmq::socket_t* socket() { return _socket.get(); }
    // Highest seq the server says it has acknowledged (commit point).
    [[nodiscard]] std::uint64_t server_commit() const { return _server_commit; }
    // The server's last seq as far as this link knows it.
    [[nodiscard]] std::uint64_t server_seq() const { return _server_seq; }

    // Sends the hello when due; restarts the session when the server has not
    // answered it within `retry`.
    void tick(const local_replica& replica, steady_time now, std::chrono::milliseconds retry);

    [[nodiscard]] outcome handle(const message& m, local_replica& replica, steady_time now);

    // After a batch of messages: make applied changes durable, then ack them.
    void end_of_batch(local_replica& replica);

    // The position handed over by handover_go (valid after outcome::handover_go).
    [[nodiscard]] position handover_position() const { return _handover_at; }

  private:
    enum class phase { idle, hello_due, awaiting, snapshot, delta, streaming };

    void open_socket();
    [[nodiscard]] outcome apply_batch(const change_batch& b, local_replica& replica);

    zmq::context_t& _ctx;
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
    position _handover_at;
};

}  // namespace starbus
