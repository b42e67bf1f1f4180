// File: broker_impl.hpp
// The broker's private state, shared by the units that make up its reactor:
//   broker.cpp          reactor loop, sensors -> FSM events, actions, heartbeats
//   request_handler.cpp client and operator requests
//   serving.cpp         the serving side: writes, replication sessions, commit
//   file_service.cpp    files: listing, serving chunks, uploads, installs, collection
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include <starbus/broker/broker.hpp>
#include <starbus/broker/fsm.hpp>
#include <starbus/common/codec.hpp>

#include <starbus/common/file_install.hpp>

#include "file_store.hpp"
#include "follower.hpp"
#include "local_replica.hpp"
#include "upload_receiver.hpp"
#include "peer_view.hpp"
#include "reconciler.hpp"
#include "replica_sessions.hpp"
#include "role_sensing.hpp"
#include "tick_guard.hpp"

namespace starbus {

// A write waiting for its commit before the client hears "ok".
struct pending_reply {
    std::string identity;
    std::uint64_t request_id = 0;
    std::uint64_t epoch = 0;  // the epoch of the change it waits for (with the map's seq: its position)
};

struct broker::impl {
    impl(broker_options options);

    // ---- reactor (broker.cpp) ----
    void run(const std::atomic<bool>& stop);
    void drain_requests(steady_time now);
    void drain_heartbeats(steady_time now);
    void drain_follower(steady_time now);
    void drain_subscriptions();
    void end_of_batch(steady_time now);
    void tick(steady_time now);
    // The facts the role sensors read (role_sensing.hpp), as they are now. (Not const: looking a
    // replica session up by name is not, in replica_sessions.)
    [[nodiscard]] role_facts role_facts_now();
    // Runs the role sensors and applies their verdict: bookkeeping, then the event.
    void sense(steady_time now);
    // Feeds the turn's `now` to the tick guard; logs entering and leaving tilt.
    void watch_for_freeze(steady_time now);
    // Every state change: looks the event up in the FSM table, logs the step, carries out its actions
    // (and any event they raise in turn), announces the new state.
    void fire(fsm_event e, steady_time now);
    // Returns the event an action raised (start_sync with nobody to follow), if any.
    [[nodiscard]] std::optional<fsm_event> carry_out(std::uint32_t actions, steady_time now);
    void send_heartbeat(steady_time now);
    // The server sent something this replica cannot decode or apply: stop following it (change_refused),
    // log it once per incident, and say why in `status`.
    void refuse_stream(const std::string& why, steady_time now);
    [[nodiscard]] bool serving() const {
        return _state == broker_state::active || _state == broker_state::handover;
    }
    [[nodiscard]] std::string note(steady_time now) const;
    // What the replica's file transfers add to the note ("" when nothing).
    [[nodiscard]] std::string files_note() const;
    [[nodiscard]] std::string server_name(steady_time now) const;

    // ---- requests (request_handler.cpp) ----
    void handle_request(const std::string& identity, const zmq::message_t& body, steady_time now);
    void consider_vote(steady_time now);
    // Passive, next in line, and the server has missed a heartbeat: a takeover may come within the expiry.
    [[nodiscard]] bool takeover_imminent(steady_time now) const;
    void note_client(std::uint64_t client_id, steady_time now);
    void reply(const std::string& identity, const message& m);
    void reply_error(const std::string& identity, std::uint64_t request_id, error_code code, std::string text);
    void reply_not_serving(const std::string& identity, std::uint64_t request_id, steady_time now);
    void handle_get(const std::string& identity, const get_request& r, steady_time now);
    void handle_status(const std::string& identity, const status_request& r, steady_time now);
    void handle_force(const std::string& identity, const force_request& r, steady_time now);
    // A delta when `from` is in the history, else a full snapshot; for a replica (`epochs` given), a full
    // snapshot names the fork between its history and ours. Returns how many entries (changes of a
    // delta, or keys and files of a full snapshot) it sent.
    std::size_t send_snapshot(const std::string& identity, std::uint64_t request_id, position from,
                              const std::vector<epoch_span>* epochs = nullptr);
    [[nodiscard]] std::size_t client_count(steady_time now);

    // ---- serving (serving.cpp) ----
    void handle_set(const std::string& identity, const set_request& r, steady_time now);
    // Applies a change the server made (set, publish, file put or remove) and makes `identity` wait for its
    // commit (nobody when it is empty: a replayed orphan). A change that check_change() refuses (what every
    // replica would refuse) is not logged: `identity` gets the error and the result is false.
    [[nodiscard]] bool commit_change(change c, const std::string& identity, std::uint64_t request_id);
    // The broker serves now: applies the orphans of a parted history it kept (reconciler.hpp).
    void apply_own_orphans();
    // What every write goes through, in this order: serving; a retry of a request already applied is
    // answered with its position (whatever its class: it was accepted once); the primary for configuration
    // changes. True: the caller applies it; false: it was answered.
    [[nodiscard]] bool begin_write(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
                                   change_class cls, steady_time now, const char* what);
    // A retry of an applied request is answered (now or at its commit). True: answered.
    [[nodiscard]] bool answer_retry(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id);
    // Acknowledges a request at the end of the batch, with the position it was applied at.
    void ack_now(const std::string& identity, std::uint64_t request_id, position at);
    void handle_publish(const std::string& identity, const publish_request& r, steady_time now);
    void handle_hello(const std::string& identity, const repl_hello& r, steady_time now);
    void handle_repl_ack(const std::string& identity, const repl_ack& r);
    void handle_handover_request(const std::string& identity, const handover_request& r, steady_time now);
    void replicate_batch();
    void advance_commit(steady_time now);
    void flush_immediate_acks();
    void become_server(steady_time now);
    void send_handover_go();

    // ---- the bus (bus_service.cpp) ----
    void handle_bus_fetch(const std::string& identity, const bus_fetch_request& r, steady_time now);
    // Answers the parked fetches that new committed messages (or their deadline) concern.
    void wake_bus_fetches(steady_time now, bool all);
    // Every parked fetch is answered NOT_SERVING (this broker stops serving).
    void release_bus_fetches(steady_time now);
    // The batch answering `r` from the committed bus log; nothing when it would be empty.
    [[nodiscard]] std::optional<bus_batch> bus_answer(const bus_fetch_request& r, bool even_empty);
    // Sends committed bus messages to raw subscribers of the publish port, if any.
    void publish_committed(const std::vector<change>& committed);

    // ---- files (file_service.cpp) ----
    void handle_file_list(const std::string& identity, const file_list_request& r, steady_time now);
    void handle_fetch(const std::string& identity, const fetch_request& r);
    void handle_file_put(const std::string& identity, const file_put_request& r, steady_time now);
    void handle_file_remove(const std::string& identity, const file_remove_request& r, steady_time now);
    void handle_chunk(const std::string& identity, const zmq::message_t& body, steady_time now);
    void send_upload_orders();
    void finish_uploads(steady_time now);
    void submit_install(fetched_file f, bool upload_owned, upload u = {});
    void drain_installer(steady_time now);
    void move_follower_files();
    void collect_garbage();
    void send_frame(const std::string& identity, zmq::message_t&& frame);

    broker_options _options;
    const broker_info& _me;
    zmq::context_t _ctx{1};
    zmq::socket_t _router;     // P: requests
    zmq::socket_t _publisher;  // P+1 (XPUB): bus and committed changes
    std::set<std::string> _state_subscriptions;  // subscribed prefixes that match "K" ("" or "K")
    zmq::socket_t _beacon;     // P+2: my heartbeats
    zmq::socket_t _peers_sub;  // every peer's P+2
    local_replica _replica;
    file_store _files;         // after _replica: the data directory is locked by then
    background_installer _installer;
    peer_view _peers;
    replica_sessions _sessions;
    follower _follower;
    upload_receiver _uploads;
    reconciler _reconciler;
    std::uint64_t _last_upload_fetch = 0;  // request ids of the FETCHes sent to uploading clients
    // Files in the installer: what each becomes once on disk.
    struct install_owner {
        file_entry entry;
        bool is_upload = false;  // an upload (apply its change) or a replica's fetch (tell the follower)
        starbus::upload from;
    };
    std::unordered_map<std::uint64_t, install_owner> _installing;
    std::uint64_t _last_install = 0;

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
    std::uint64_t _followed_epoch = 0;          // the epoch the followed server announced when the sync started
    std::uint64_t _progress_seq = 0;            // the follower's progress() marker, and when it last moved
    steady_time _progress_at{};

    // Serving side.
    std::uint64_t _commit_seq = 0;              // highest seq acknowledged to clients
    std::deque<change> _uncommitted;            // applied, not yet acknowledged (seq order)
    std::vector<change> _batch_changes;         // applied in this batch, not yet sent to replicas
    std::multimap<std::uint64_t, pending_reply> _pending;  // seq -> who waits for it
    // Acknowledgements answered at the end of the batch: identity -> (request id, its position).
    std::map<std::string, std::vector<std::pair<std::uint64_t, position>>> _immediate_acks;
    std::string _successor;                     // handover: who takes the role
    steady_time _handover_started{};
    bool _go_sent = false;
    steady_time _next_handover_request{};

    std::unordered_map<std::uint64_t, steady_time> _clients;  // client id -> last heard
    std::size_t _clients_prune_at = 1024;                     // note_client prunes _clients at this size
    // Bus fetches waiting for a message (long polls), oldest first; at most max_parked_fetches.
    struct parked_fetch {
        std::string identity;
        bus_fetch_request request;
        steady_time until{};
    };
    std::deque<parked_fetch> _parked;
    std::size_t _bus_subscriptions = 0;   // raw subscriptions to "B" prefixes on the publish socket
    std::uint64_t _bad_messages = 0;
    steady_time _bad_log_window{};
    int _bad_logged_in_window = 0;
    // Entries of the answers to clients' SNAPSHOT requests sent in the current batch of requests
    // (snapshot_entries_per_batch bounds it).
    std::size_t _snapshot_entries_in_batch = 0;
};

// Cuts `changes` into messages of at most `max_bytes` of payload (and at least
// one change each), calling `send` for each piece.
template <typename Fn>
void for_each_chunk(const std::vector<change>& changes, std::size_t max_bytes, Fn&& send) {
    std::vector<change> piece;
    std::size_t bytes = 0;
    for (const auto& c : changes) {
        const std::size_t size = c.key.size() + c.value.size() + 48;
        if (!piece.empty() && bytes + size > max_bytes) {
            send(std::move(piece));
            piece = {};
            bytes = 0;
        }
        piece.push_back(c);
        bytes += size;
    }
    if (!piece.empty()) send(std::move(piece));
}

inline constexpr std::size_t chunk_bytes = 1u << 20;

// What one batch of requests may spend on answering clients' SNAPSHOT requests (docs/protocol.md
// "Limits"): once this many entries (changes of deltas, keys and files of full snapshots) went out in a
// batch, further SNAPSHOTs of the batch are answered RETRY_LATER (the client retries after a jittered
// pause). The first SNAPSHOT of a batch is always answered, whatever its size. This keeps a reconnect
// storm (a thousand mirroring clients resynchronising at once) from holding the reactor, and so the
// heartbeats, for seconds. Replicas' REPL-HELLO snapshots are not counted.
inline constexpr std::size_t snapshot_entries_per_batch = 65536;

}  // namespace starbus
