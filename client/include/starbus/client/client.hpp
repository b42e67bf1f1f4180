// File: client.hpp
// starbus::client, the application's handle on a starbus cluster: changes
// to the replicated key/value state, reads, bus publish/subscribe, an
// optional local mirror of the state, and the operator requests (status of
// every broker, dump, force).
//
// Behaviour (docs/protocol.md "Client behaviour"): the Lazy Pirate pattern over a
// DEALER to the serving broker, pipelined. Every request carries an
// increasing request_id and this client's random client_id; when the server
// stays silent for the attempt timeout, or says it does not serve, the client
// moves to the next broker in rank order (or straight to the one named as
// server) and re-sends every unacknowledged request unchanged; the cluster
// dedupes them. After a full pass with nobody serving it pauses (jittered,
// 20 ms growing to 200 ms) and walks again, until the operation's deadline.
//
// Threading: there is no background thread. The client does its work
// (answering to the server's liveness checks, following failovers, receiving
// bus messages and mirror updates) only inside the calls the application
// makes; every call that waits services all of it, and poll() exists for an
// application that has nothing else to ask. Use one client object from one
// thread at a time (or give each thread its own client). Callbacks
// (on_event, completions) run on the calling thread, inside a call of the
// application, never re-entrantly: a callback that calls back into the client
// is fine, but the callbacks that become due meanwhile run after it returns.
//
// Usage:
//   starbus::client_options opts;
//   opts.cluster = starbus::load_cluster_file("cluster.toml");
//   starbus::client c(opts);
//   c.on_event([](const starbus::client_event& e) { std::cout << starbus::describe(e) << "\n"; });
//   auto r = c.set("valve.1", "open", starbus::change_class::operational, std::chrono::seconds(5));
//   if (!r.ok()) std::cerr << r.message << "\n";
//
// The public headers hold starbus types and the standard library only (no
// ZeroMQ, MessagePack or other third-party header): an application's build
// inherits nothing from the library's dependencies.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <starbus/client/client_options.hpp>
#include <starbus/client/client_types.hpp>
#include <starbus/config/cluster_config.hpp>
#include <starbus/state/kv_state.hpp>

namespace starbus {

class client {
  public:
    using event_handler = std::function<void(const client_event&)>;
    using completion = std::function<void(const result&)>;
    using indexed_completion = std::function<void(std::size_t index, const result&)>;

    // Does no network I/O yet: the client connects on its first request,
    // subscription or poll (with mirror_state). Throws config_error when the
    // cluster lists no brokers.
    explicit client(client_options options);
    ~client();
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Called for every event (server_changed, server_lost, synchronised,
    // change_refused), on the application's thread, inside its calls.
    void on_event(event_handler handler);

    // ---- changes to the replicated state ----
    // Puts key = value. ok once the server acknowledged it (stored and
    // replicated per the cluster's ack rule); refused for a configuration
    // change while the primary does not serve (message says why, primary
    // names it); unreachable when no broker served before the deadline.
    [[nodiscard]] result set(std::string_view key, std::string_view value, change_class cls, deadline d);
    // Removes key (acknowledged like set; removing an absent key is ok).
    [[nodiscard]] result erase(std::string_view key, change_class cls, deadline d);
    // One change, put or erase.
    [[nodiscard]] result apply(const change_request& c, deadline d);
    // Many changes, pipelined (up to the window in flight). on_result (may be
    // empty) is called once per change, in the order of `changes`. Returns ok
    // when every change was acknowledged, else the first failure.
    [[nodiscard]] result set_many(const std::vector<change_request>& changes, deadline d,
                                  const indexed_completion& on_result = {});
    // Many changes given as views (nothing is copied until each is encoded),
    // pipelined with up to `window` in flight (0: client_options::window; it
    // is capped by that). One result per change, in the order of `changes`.
    [[nodiscard]] batch_result apply_many(std::span<const change_view> changes, deadline d, std::size_t window = 0);
    // Submits one change without waiting for it; on_done (may be empty) is
    // called when it finished, completions of submit() and publish_async()
    // in the order of submission. Waits (servicing) only while the window
    // is full. Wait for them with flush() or flush_outcomes(). Returns the
    // request's ticket, which flush_outcomes() names it by.
    std::uint64_t submit(const change_request& c, deadline d, completion on_done = {});

    // ---- reads ----
    // The server's current value of key: ok with value, or not_found.
    [[nodiscard]] get_result get(std::string_view key, deadline d);

    // ---- the bus ----
    // Publishes payload on topic: ok once acknowledged like a change (logged,
    // and held by the replicas the cluster's ack mode requires); a retry is
    // never delivered twice. Without a bus log ([bus] retain_messages = 0):
    // ok once the server took it, best effort.
    [[nodiscard]] result publish(std::string_view topic, std::string_view payload, deadline d);
    // Publishes without waiting (pipelined, like submit()).
    // Returns the request's ticket, like submit().
    std::uint64_t publish_async(std::string_view topic, std::string_view payload, deadline d,
                                completion on_done = {});
    // Waits until every submit()/publish_async() finished and their
    // completions ran. ok when all succeeded since the last flush, else the
    // first failure; unreachable when some are still outstanding at the deadline.
    [[nodiscard]] result flush(deadline d);
    // Like flush(), and says what became of each request: every failure since
    // the last flush, with its ticket and key or topic (`summary` is what
    // flush() would have returned).
    [[nodiscard]] flush_result flush_outcomes(deadline d);

    // Receive bus messages whose topic starts with prefix ("" for all), from
    // whichever broker serves: every acknowledged message, in log order, once,
    // across failovers (what retention dropped meanwhile is reported as a
    // bus_gap event). The first subscription says where the client starts
    // (default: what is published from now on); later prefixes join at the
    // position reached.
    //
    // subscribe() only records the prefix: it is in place once
    // wait_subscribed() says so (see there).
    void subscribe(std::string_view prefix, const subscribe_options& start = {});
    void unsubscribe(std::string_view prefix);
    // Services until every prefix subscribed so far is in place, so that
    // every message published (acknowledged) after this returns true is
    // received; false at the deadline. In place means: with a bus log, the
    // serving broker answered a BUS-FETCH, which fixed the subscription's
    // position in the log (later prefixes join at that position, so they are
    // in place at once); without one (best effort, over the publish port),
    // the SUB socket's connection to the serving broker completed its
    // handshake (which sends the subscriptions first) and two PING round
    // trips to that broker, started afterwards, came back, so the broker had
    // read the subscription before it answered. Best effort stays best
    // effort: a failover later can still lose messages (README "The bus").
    [[nodiscard]] bool wait_subscribed(deadline d);
    // The next bus message received, waiting (servicing) up to timeout.
    [[nodiscard]] std::optional<bus_message> next_message(std::chrono::milliseconds timeout);
    // Up to `max` bus messages at once (moved out of the client's queue, not
    // copied), waiting (servicing) up to timeout for the first; empty when
    // none came.
    [[nodiscard]] std::vector<bus_message> next_messages(std::size_t max, std::chrono::milliseconds timeout);
    // Bus messages dropped because more than max_queued_messages waited
    // (only without a bus log: with one, the client asks for less instead).
    [[nodiscard]] std::uint64_t dropped_messages() const;
    // The position the bus subscription has reached: give it back as
    // subscribe_options::from to resume a later client where this one stopped.
    [[nodiscard]] position bus_position() const;

    // ---- the mirror (client_options::mirror_state) ----
    // The local copy of the replicated state, as of the last call. Empty
    // without mirror_state.
    [[nodiscard]] const kv_state& mirror() const;
    // The mirror holds the server's state (synced, no gap known).
    [[nodiscard]] bool synchronised() const;
    // Services until synchronised() or the deadline; returns synchronised().
    bool wait_synchronised(deadline d);

    // ---- waiting for the cluster ----
    // Connects (if not yet) and services until a broker confirmed that it
    // serves: ok with `server` naming it, or unreachable at the deadline
    // (message: why the last broker was left). Use it before a first request
    // instead of retrying set() in a loop.
    [[nodiscard]] result wait_serving(deadline d);
    // Waits until a broker serves and at least `replicas` other brokers
    // report themselves synchronised replicas of it (passive, naming it as
    // server), asking every broker's status (status_all) about every 50 ms:
    // ok (`server` names the server), or unreachable at the deadline with
    // how far it got. With the cluster's default ack mode one is enough for
    // every acknowledgement to rest on two brokers.
    [[nodiscard]] result wait_replicated(std::size_t replicas, deadline d);

    // ---- files (README "Files"; docs/protocol.md "File transfer") ----
    // Remote paths are relative, '/'-separated, without "..": see
    // normalise_remote_path() in <starbus/wire/file_path.hpp>; others are invalid.
    // Puts the content of `local` at `remote`: a configuration change (refused
    // while the primary does not serve). The file is hashed here, then the
    // server fetches it in chunks, checks it and stores it; ok once the change
    // is acknowledged, like set(). Unreachable when nothing moved for the stall timeout.
    [[nodiscard]] result put_file(const std::filesystem::path& local, std::string_view remote,
                                  const transfer_options& options = {});
    // Removes `remote` (a configuration change; removing an absent file is ok).
    [[nodiscard]] result remove_file(std::string_view remote, deadline d);
    // Every file of the cluster, in path order.
    [[nodiscard]] file_list_result list_files(deadline d);
    // One file's entry, or not_found.
    [[nodiscard]] file_stat_result stat_file(std::string_view remote, deadline d);
    // Downloads `remote` into `local` (replaced atomically once whole and
    // verified). After a failover it resumes from the new server at the offset
    // it had reached; if the file was replaced meanwhile, it starts over on the
    // new version. not_found when there is no such file.
    [[nodiscard]] result fetch_file(std::string_view remote, const std::filesystem::path& local,
                                    const transfer_options& options = {});

    // ---- background downloads (what file_mirror is built on) ----
    // Starts fetching one file version (an entry of mirror().files(),
    // list_files() or stat_file()) into `temp_path`, a new file on the same
    // file system as its final place; returns the download's tag. It moves
    // inside the client's calls (poll() and every waiting call), resumes
    // from the new server after a failover, and is verified (XXH3-128, and
    // SHA-256 with verify_sha256) before it is reported done. Many may run at
    // once, within the cluster's credit ([files] credit_bytes).
    [[nodiscard]] std::uint64_t begin_download(const file_entry& version, const std::filesystem::path& temp_path);
    // Gives a download up (its temporary file is deleted); false when the tag is unknown or done.
    bool cancel_download(std::uint64_t tag);
    // The downloads that finished since the last call, completed or failed.
    // A completed file stays at its temp_path for the caller to fsync and
    // rename (install_files() of <starbus/files/file_install.hpp> does both).
    [[nodiscard]] std::vector<download_outcome> take_downloads();
    // Bytes of the running downloads not yet received (progress, stall detection).
    [[nodiscard]] std::uint64_t downloads_pending_bytes() const;

    // ---- operators ----
    // Every broker's own report, in rank order, asked in parallel; those that
    // did not answer within timeout are reported with role "down".
    [[nodiscard]] std::vector<broker_status> status_all(std::chrono::milliseconds timeout);
    // The whole state (entries sorted by key and the position they were taken
    // at) as the serving broker holds it, or as broker `from_broker`'s replica
    // holds it (serving or not). invalid for an unknown broker name.
    [[nodiscard]] dump_result dump(deadline d, const std::optional<std::string>& from_broker = std::nullopt);
    // Makes broker `name` serve although it cannot prove it holds every
    // acknowledged change (README "Forcing a broker"): ok, refused (e.g.
    // another broker serves), unreachable or invalid (unknown name).
    [[nodiscard]] result force(std::string_view name, deadline d);

    // ---- driving ----
    // Services the sockets for up to timeout (returns earlier when something
    // happened: an event, a completion, a bus message) and runs the due
    // callbacks. With watch_fd >= 0, also returns when that file descriptor
    // is readable (e.g. stdin), and says so.
    bool poll(std::chrono::milliseconds timeout, int watch_fd = -1);

    // ---- state of the client ----
    // The broker this client talks to and that said it serves, if any.
    [[nodiscard]] std::optional<server_info> server() const;
    [[nodiscard]] std::uint64_t client_id() const;
    // Requests submitted and not yet delivered (at most options' window).
    [[nodiscard]] std::size_t in_flight() const;
    // Why the client last left a broker ("B did not answer within 750 ms",
    // "C does not serve (it is syncing)"), or "" — for diagnostics.
    [[nodiscard]] std::string last_trouble() const;
    [[nodiscard]] const cluster_config& cluster() const;
    // The options the client was made with (defaults applied where they say so).
    [[nodiscard]] const client_options& options() const;

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace starbus
