// File: session.hpp
// The engine of starbus::client: one Lazy Pirate session with the cluster.
// Its link to the cluster is the explicit state machine of link.hpp (idle,
// probing, connecting, confirming, connected, reconnecting): the table says
// when to connect, confirm, leave or replay, and this class carries it out. It
// keeps a DEALER to the broker it believes serves, pings it when nothing else
// is heard, walks the cluster (broker_walk) when the broker is silent or does
// not serve, and routes what arrives to its parts: request results to the
// request table (re-sent to every new server), snapshots and deltas to the
// state mirror, bus batches to the bus subscription, chunks to the file
// transfers. Single-threaded: it only acts inside service(). Results, events
// and bus messages are queued for the facade (client.hpp), which hands them to
// the application outside of any processing. A building block of
// starbus::client.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "broker_walk.hpp"
#include "bus_subscription.hpp"
#include <starbus/client/client_options.hpp>
#include <starbus/client/client_types.hpp>
#include "connection.hpp"
#include "file_transfers.hpp"
#include "link.hpp"
#include "request_table.hpp"
#include "state_mirror.hpp"

namespace starbus::client_detail {

class session {
  public:
    // Throws config_error when the cluster lists no brokers.
    session(zmq::context_t& context, const client_options& options);

    [[nodiscard]] std::uint64_t client_id() const { return _client_id; }
    [[nodiscard]] const client_options& options() const { return _options; }
    // Request ids are shared by everything this client sends (also the
    // operator exchanges of probe.hpp), so that they increase per client.
    [[nodiscard]] std::uint64_t next_request_id() { return ++_last_request_id; }

    // ---- requests ----
    // Each returns the request id. Invalid input (empty key, over the limit)
    // finishes at once with status invalid. `ordered`: finished results are
    // handed back in submission order (request_table).
    std::uint64_t submit_change(const change_request& c, clock::time_point deadline, bool ordered);
    std::uint64_t submit_change(const change_view& c, clock::time_point deadline, bool ordered);
    std::uint64_t submit_publish(std::string_view topic, std::string_view payload, clock::time_point deadline,
                                 bool ordered);
    std::uint64_t submit_get(std::string_view key, clock::time_point deadline);
    // Files: a FILE-PUT of `entry` whose content `local` holds (offered to
    // the server until the request finishes; each chunk the server fetches
    // moves the deadline to now + `stall`), a FILE-RM, a FILE-LIST page.
    std::uint64_t submit_file_put(const file_entry& entry, const std::filesystem::path& local,
                                  std::chrono::milliseconds stall);
    std::uint64_t submit_file_remove(const std::string& path, clock::time_point deadline);
    std::uint64_t submit_file_list(const std::string& from, std::uint32_t limit, clock::time_point deadline);
    // The page that answered a finished FILE-LIST request (once).
    [[nodiscard]] std::optional<file_list_reply> take_listing(std::uint64_t id);
    [[nodiscard]] file_transfers& files() { return _files; }
    [[nodiscard]] const file_transfers& files() const { return _files; }
    // Bytes of an offered upload the server has fetched.
    [[nodiscard]] std::uint64_t upload_progress(const file_entry& e) const { return _files.served(e.path, e.hash); }
    [[nodiscard]] bool window_full() const { return _table.full(); }
    [[nodiscard]] std::size_t in_flight() const { return _table.in_flight(); }
    [[nodiscard]] std::vector<finished_request> take_finished() { return _table.take_finished(); }
    [[nodiscard]] bool has_finished() const { return _table.has_finished(); }

    // ---- subscriptions and mirror ----
    // Bus subscriptions: through BUS-FETCH (lossless), or, when the cluster
    // keeps no bus log, through the SUB socket (best effort).
    void subscribe(const std::string& prefix, const subscribe_options& start = {});
    void unsubscribe(const std::string& prefix);
    // Every bus prefix subscribed so far is in place (client::wait_subscribed
    // says what that means); may send the PINGs that establish it.
    [[nodiscard]] bool subscriptions_in_place();
    // The position the bus subscription has reached.
    [[nodiscard]] position bus_position() const { return _bus.cursor(); }
    [[nodiscard]] std::optional<bus_message> pop_message();
    [[nodiscard]] bool has_message() const { return !_messages.empty(); }
    [[nodiscard]] std::uint64_t dropped_messages() const { return _dropped_messages; }
    [[nodiscard]] const state_mirror& mirror() const { return _mirror; }

    // ---- events ----
    [[nodiscard]] std::deque<client_event> take_events();
    [[nodiscard]] bool has_events() const { return !_events.empty(); }

    // ---- driving ----
    // Makes the session connect (it does so by itself on the first request,
    // subscription or mirror; operators' tools call it to find the server).
    void start();
    // Services the sockets and timers until `until`, or until something is
    // ready for the caller (a finished request, an event, a new bus message),
    // or `watch_fd` (if >= 0) is readable. Returns whether watch_fd is readable.
    bool service(clock::time_point until, int watch_fd = -1);

    // Where the link stands (link.hpp).
    [[nodiscard]] link_state link() const { return _link; }
    // The broker confirmed as serving on the current connection.
    [[nodiscard]] const std::optional<server_info>& server() const { return _server; }
    [[nodiscard]] const cluster_config& cluster() const { return _options.cluster; }
    // Why the last broker was left ("" if none was), for error messages.
    [[nodiscard]] const std::string& trouble() const { return _trouble; }
    // CURVE: why a broker refused this client's key ("" unless one did since a broker last answered).
    [[nodiscard]] const std::string& key_refusal() const { return _key_refusal; }
    // The caller saw the current server misbehave (e.g. it refused a dump as
    // not serving): leave it and walk on.
    void distrust_server(const std::string& reason);

  private:
    // Feeds one event to the link table and carries out the cell's actions.
    // `reason` and `hint` (the broker named as server) go with leaving,
    // `epoch` with confirming.
    void on_link(link_event event, clock::time_point now, const std::string& reason = {},
                 const std::string& hint = {}, std::uint64_t epoch = 0);
    // The table's actions.
    void probe_first_contact();
    void connect(clock::time_point now);
    void leave_broker(clock::time_point now, const std::string& reason, const std::string& hint);
    void replay_unanswered();
    void confirm(link_state was, std::uint64_t epoch);
    void announce(const server_info& s);

    void housekeeping(clock::time_point now);
    // The DEALER's handshake monitor has news (CURVE): a refused key fails what waits.
    void check_handshakes();
    [[nodiscard]] bool mirror_sync_due(clock::time_point now) const;
    std::uint64_t send_ping(clock::time_point now);
    void reset_subscription_check();
    void send_unsent();
    void start_mirror_sync(clock::time_point now);
    void read_requests(clock::time_point now);
    void read_published();
    void handle(clock::time_point now, const message& m);
    void handle_pong(clock::time_point now, const pong& p);
    void handle_error(clock::time_point now, const error_reply& e);
    void handle_sync_outcome(clock::time_point now, state_mirror::outcome o);
    void serve_upload(clock::time_point now, const fetch_request& r);
    void send_bus_fetch();
    void handle_bus_batch(const bus_batch& b);
    void fall_back_to_sub();
    void send_file_orders();
    std::uint64_t add_request(pending_request r, const std::string& invalid_reason);
    [[nodiscard]] result unreachable_result() const;
    [[nodiscard]] clock::time_point next_wake(clock::time_point now, clock::time_point until) const;
    [[nodiscard]] const broker_info& current_broker() const;
    [[nodiscard]] std::string current_name() const;

    zmq::context_t& _context;  // for the first-contact probe (probe.hpp)
    client_options _options;
    link_timing _timing;
    std::uint64_t _client_id;
    std::uint64_t _last_request_id = 0;

    connection _conn;
    broker_walk _walk;
    request_table _table;
    state_mirror _mirror;
    file_transfers _files;
    std::map<std::uint64_t, file_list_reply> _listings;  // answers of finished FILE-LIST requests, by id
    // Uploads offered, by (path, hash): the FILE-PUT request and its stall timeout.
    struct put_state {
        std::uint64_t request_id = 0;
        std::chrono::milliseconds stall{0};
    };
    std::map<std::pair<std::string, std::string>, put_state> _puts;

    link_state _link = link_state::idle;
    link_times _times;
    // The last ping could not be sent (its DEALER was not connected yet): housekeeping sends one when it is.
    bool _ping_unsent = false;
    clock::time_point _sync_retry_at{};            // mirror: do not restart a sync before this
    // Mirror: when to ask the server's position (a PING) before the next ping interval: at once after a sync
    // (its SUB may have missed what the server published before the subscription reached it, and nothing
    // published later may show the gap), and half an interval after a PONG first showed the server ahead.
    std::optional<clock::time_point> _position_check_at;
    clock::time_point _sub_retry_at{};             // CURVE: do not reopen a failed SUB before this
    std::optional<server_info> _server;            // confirmed server on the current connection
    std::optional<server_info> _announced;         // the last server_changed emitted
    std::string _trouble;
    std::string _key_refusal;                      // a refused key, until a broker answers (check_handshakes)

    std::set<std::string> _prefixes;               // SUB prefixes: "K" when mirroring; "B"+topic without a bus log
    bus_subscription _bus;
    bool _bus_fallback = false;                    // the cluster keeps no bus log: subscribe with SUB
    // Best-effort bus: the PING round trips to the server completed since the
    // SUB's handshake (or the last new prefix), and the one in flight (0: none).
    int _sub_round_trips = 0;
    std::uint64_t _sub_ping_id = 0;
    std::deque<bus_message> _messages;
    std::uint64_t _dropped_messages = 0;
    bool _new_message = false;                     // a bus message arrived during this service() call
    bool _files_moved = false;                     // a download finished or failed during this service() call
    std::deque<client_event> _events;
};

}  // namespace starbus::client_detail
