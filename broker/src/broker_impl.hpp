// File: broker_impl.hpp
// The broker: a reactor around components. Who owns what:
//   reactor (broker.cpp)          the sockets and the poll loop; turns readiness into calls on the parts below
//                                 and implements broker_sink (what components send) on its sockets
//   storage                       local_replica (state, history, change log), file_store (file contents)
//   peer_view                     every peer's last heartbeat
//   role (role.cpp)               the FSM state and what sensing and its actions need; heartbeats
//   requests (request_router.cpp) decoding, dispatch, votes, STATUS/GET/FORCE, the client registry
//   write_path                    begin / commit / pending acknowledgements, the commit point
//   replication_server            replication sessions, the ack rule's commit point, HANDOVER-GO
//   follower, reconciler          the replica's side: following a server, replaying a parted history
//   bus_service                   BUS-FETCH, the publish port's fan-out
//   file_service                  FILE-LIST, FETCH, uploads, installs, garbage collection
//   security (security.cpp)       CURVE on the sockets, the ZAP handler, who may send each request
//   operations (operator_report.cpp) the counters and the report the HTTP endpoint shows (http_endpoint)
// docs/architecture.md draws it.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include <starbus/broker/broker.hpp>
#include <starbus/broker/fsm.hpp>
#include <starbus/wire/codec.hpp>

#include "access_control.hpp"
#include "broker_sink.hpp"
#include "bus_service.hpp"
#include "client_registry.hpp"
#include "file_service.hpp"
#include "file_store.hpp"
#include "http_endpoint.hpp"
#include "follower.hpp"
#include "local_replica.hpp"
#include "peer_links.hpp"
#include "peer_view.hpp"
#include "reconciler.hpp"
#include "replication_server.hpp"
#include "role_sensing.hpp"
#include "tick_guard.hpp"
#include "write_path.hpp"
#include "zap_handler.hpp"

namespace starbus {

struct broker::impl final : broker_sink {
    explicit impl(broker_options options);

    // ---- reactor (broker.cpp) ----
    void configure_sockets();
    void run(const std::atomic<bool>& stop);
    void drain_requests(steady_time now);
    void drain_peer_links(const std::vector<zmq::pollitem_t>& items, std::size_t first, steady_time now);
    void record_heartbeat(std::uint32_t link_rank, const zmq::message_t& frame, steady_time now);
    void drain_follower(steady_time now);
    void drain_subscriptions();
    void end_of_batch(steady_time now);
    void tick(steady_time now);
    // broker_sink, on the request and publish sockets.
    void reply(const std::string& identity, const message& m) override;
    void reply_frame(const std::string& identity, zmq::message_t&& frame) override;
    void reply_error(const std::string& identity, std::uint64_t request_id, error_code code,
                     std::string text) override;
    void reply_not_serving(const std::string& identity, std::uint64_t request_id) override;
    void publish(std::string_view topic_frame, std::string_view body) override;
    void publish(std::string_view topic_frame, zmq::message_t&& body) override;

    // ---- role (role.cpp) ----
    // The facts the role sensors read (role_sensing.hpp), as they are now.
    [[nodiscard]] role_facts role_facts_now() const;
    // Runs the role sensors and applies their verdict: bookkeeping, then the event.
    void sense(steady_time now);
    // Feeds the turn's `now` to the tick guard; logs entering and leaving tilt.
    void watch_for_freeze(steady_time now);
    // Every state change: looks the event up in the FSM table, logs the step, carries out its actions
    // (and any event they raise in turn), announces the new state.
    void fire(fsm_event e, steady_time now);
    // Returns the event an action raised (start_sync with nobody to follow), if any.
    [[nodiscard]] std::optional<fsm_event> carry_out(std::uint32_t actions, steady_time now);
    void become_server(steady_time now);
    void stop_serving(steady_time now);
    // The broker serves now: applies the orphans of a parted history it kept (reconciler.hpp).
    void apply_own_orphans();
    void send_heartbeat(steady_time now);
    // The server sent something this replica cannot decode or apply: stop following it (change_refused),
    // log it once per incident, and say why in `status`.
    void refuse_stream(const std::string& why, steady_time now);
    // Binary Star's vote: a client asking for service while the server is silent.
    void consider_vote(steady_time now);
    // Passive, next in line, and the server has missed a heartbeat: a takeover may come within the expiry.
    [[nodiscard]] bool takeover_imminent(steady_time now) const;
    [[nodiscard]] bool serving() const {
        return _state == broker_state::active || _state == broker_state::handover;
    }
    [[nodiscard]] write_conditions writes_now(steady_time now) const {
        return {_state == broker_state::active, _replication.synced_count(now)};
    }
    [[nodiscard]] std::string note(steady_time now) const;
    // What the replica's file transfers add to the note ("" when nothing).
    [[nodiscard]] std::string files_note() const;
    [[nodiscard]] std::string server_name(steady_time now) const;
    // The write path's commit point moves as far as the ack rule allows; clients and subscribers hear of it.
    void advance_commit(steady_time now);

    // ---- requests (request_router.cpp) ----
    void handle_request(const std::string& identity, const zmq::message_t& body, steady_time now);
    void handle_set(const std::string& identity, const set_request& r, steady_time now);
    void handle_publish(const std::string& identity, const publish_view& r, steady_time now);
    // PUBLISH-MANY, read in place (no copy of a topic or payload on the best-effort path).
    void handle_publish_many(const std::string& identity, const zmq::message_t& body, steady_time now);
    void handle_snapshot(const std::string& identity, const snapshot_request& r, steady_time now);
    void handle_bus_fetch(const std::string& identity, const bus_fetch_request& r, steady_time now);
    void handle_get(const std::string& identity, const get_request& r);
    void handle_status(const std::string& identity, const status_request& r, steady_time now);
    void handle_force(const std::string& identity, const force_request& r, steady_time now);
    void handle_handover_request(const std::string& identity, const handover_request& r, steady_time now);
    void reject(const std::string& identity, const decode_result& d, std::size_t bytes, steady_time now);

    // ---- security (security.cpp) ----
    // With CURVE: checks that --key is this broker's key, starts the ZAP handler, makes every socket CURVE.
    void secure_sockets();
    // The access list as the replica's state holds it now (rebuilt when the state has moved since).
    const access_list& access_now();
    // "" when the connection that sent `body` may send a request needing `need` (`claimed_broker`: the
    // broker name the request claims), else why not. Always "" with security mode none.
    [[nodiscard]] std::string authorise(const zmq::message_t& body, const request_need& need,
                                        std::string_view claimed_broker);
    void refuse_unauthorised(const std::string& identity, std::uint64_t request_id, const std::string& why,
                             steady_time now);
    // "" unless `r` grants a key that another client or a broker holds already (one key, one name: else
    // revoking one name would leave the key acting under the other).
    [[nodiscard]] std::string access_conflict(const set_request& r);
    // Logs bad input (rejected requests, refused keys), at most a few lines per second.
    void log_bad_input(const std::string& line, steady_time now);
    // Closes and reopens the publish port, so that every subscriber reconnects through the ZAP handler
    // (after the access list lost a key: an open SUB connection is never judged again otherwise).
    void reset_publish_port();
    // CURVE: dials again the heartbeat port of every peer silent for two expiries. libzmq never retries a
    // connection whose handshake failed (a peer that did not know this broker's key yet, during a key
    // rotation, or an impostor that held the address for a while): without this, that peer stays unheard.
    void redial_silent_peers(steady_time now);

    // ---- operations (operator_report.cpp) ----
    // A copy of what operators see (broker_report.hpp), for the HTTP endpoint.
    [[nodiscard]] std::shared_ptr<const broker_report> make_report(steady_time now) const;
    // Keeps the last role transitions for the status page.
    void note_transition(broker_state from, fsm_event e, broker_state to, std::string_view why);

    // ---- configuration ----
    broker_options _options;
    const broker_info& _me;

    // ---- reactor: the sockets ----
    zmq::context_t _ctx{1};
    zmq::socket_t _router;     // P: requests
    zmq::socket_t _publisher;  // P+1 (XPUB): bus and committed changes
    zmq::socket_t _beacon;     // P+2: my heartbeats
    peer_links _peer_links;    // every peer's P+2, one SUB each
    steady_time _batch_now{};  // when the batch being handled started (what the sink's replies judge by)
    std::string _publish_bound;  // the publish port's endpoint as bound (what unbind needs)

    // ---- security ----
    std::optional<zap_handler> _zap;  // with CURVE only; after _ctx, so closed before it
    access_list _access;
    std::optional<position> _access_at;  // the state's position _access was built at
    bool _publish_reset_due = false;
    std::vector<steady_time> _redial_at;  // by rank: when redial_silent_peers may dial that peer again
    std::uint64_t _unauthorised = 0;

    // ---- operations ----
    std::unique_ptr<http_endpoint> _http;  // with --http or the cluster file's http only
    steady_time _next_report{};
    std::array<std::uint64_t, 256> _requests_by_command{};            // by command code
    std::vector<publish_view> _publishes;                              // handle_publish_many's, reused
    std::array<std::uint64_t, error_code_max + 1> _errors_by_code{};  // ERROR replies sent, by code
    std::uint64_t _serving_starts = 0;
    std::uint64_t _role_changes = 0;
    std::uint64_t _bus_accepted = 0;
    fsync_histogram _fsync;
    std::deque<transition_record> _transitions;

    // ---- storage and what the broker knows of its peers ----
    local_replica _replica;
    file_store _files;         // after _replica: the data directory is locked by then
    peer_view _peers;
    follower _follower;
    reconciler _reconciler;

    // ---- components ----
    write_path _writes;
    replication_server _replication;
    bus_service _bus;
    file_service _file_service;

    // ---- role ----
    broker_state _state = broker_state::starting;
    tick_guard _tick_guard{_options.cluster.expiry};  // TILT: no role decision on timing right after a freeze
    steady_time _started{};
    steady_time _next_heartbeat{};
    bool _server_lost_reported = false;
    // A server whose stream this replica refused (refuse_stream): not followed again in the same epoch
    // before retry_at.
    struct refused_stream {
        std::string server;
        std::uint64_t epoch = 0;
        std::string why;
        steady_time retry_at{};
    };
    std::optional<refused_stream> _refused;
    std::string _last_refusal_logged;  // the incident last logged (server, epoch, reason)
    std::uint64_t _followed_epoch = 0;  // the epoch the followed server announced when the sync started
    std::uint64_t _progress_seq = 0;    // the follower's progress() marker, and when it last moved
    steady_time _progress_at{};
    std::string _successor;             // handover: who takes the role
    steady_time _handover_started{};
    bool _go_sent = false;
    steady_time _next_handover_request{};

    // ---- requests ----
    client_registry _clients;
    std::uint64_t _bad_messages = 0;
    steady_time _bad_log_window{};
    int _bad_logged_in_window = 0;
    // Entries of the answers to clients' SNAPSHOT requests sent in the current batch of requests
    // (snapshot_entries_per_batch bounds it).
    std::size_t _snapshot_entries_in_batch = 0;
};

// What one batch of requests may spend on answering clients' SNAPSHOT requests (docs/protocol.md
// "Limits"): once this many entries (changes of deltas, keys and files of full snapshots) went out in a
// batch, further SNAPSHOTs of the batch are answered RETRY_LATER (the client retries after a jittered
// pause). The first SNAPSHOT of a batch is always answered, whatever its size. This keeps a reconnect
// storm (a thousand mirroring clients resynchronising at once) from holding the reactor, and so the
// heartbeats, for seconds. Replicas' REPL-HELLO snapshots are not counted.
inline constexpr std::size_t snapshot_entries_per_batch = 65536;

}  // namespace starbus
