// File: client_types.hpp
// The vocabulary of the client library's public API: deadlines, results of
// requests (a status every value of which is documented, never an exception
// for an expected outcome), the events a client reports to the application,
// bus messages and broker status rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <starbus/wire/file_entry.hpp>
#include <starbus/wire/vocabulary.hpp>

namespace starbus {

// When an operation gives up. Built from an absolute steady_clock time or,
// implicitly, from a duration counted from now: `c.set(k, v, cls, 2s)`.
class deadline {
  public:
    using clock = std::chrono::steady_clock;

    deadline(clock::time_point at) : _at(at) {}  // NOLINT: implicit on purpose
    template <typename Rep, typename Period>
    deadline(std::chrono::duration<Rep, Period> within)  // NOLINT: implicit on purpose
        : _at(clock::now() + std::chrono::duration_cast<clock::duration>(within)) {}

    // A deadline that never passes (the caller bounds the wait some other way).
    [[nodiscard]] static deadline never() { return deadline(clock::time_point::max()); }

    [[nodiscard]] clock::time_point at() const { return _at; }
    [[nodiscard]] bool passed(clock::time_point now = clock::now()) const { return now >= _at; }

  private:
    clock::time_point _at;
};

// How a request ended.
enum class result_status : std::uint8_t {
    ok,           // done: acknowledged by the serving broker (or the value was read)
    refused,      // the cluster refused it for good (e.g. a configuration change while the
                  // primary does not serve, force while another broker serves, or a file the
                  // server has no room for); see message
    not_found,    // get: the key holds no value; files: no such file
    unreachable,  // no broker answered as server before the deadline, or a backup refused a configuration
                  // change that an earlier, unanswered attempt may yet apply: a change may still be applied
    invalid,      // the request itself is wrong (empty or oversized key/topic, unknown broker name,
                  // or a broker said bad_request/too_large/unknown_command)
    not_authorised,  // CURVE: the broker refused this client's key, or its role does not allow the request
};
[[nodiscard]] std::string_view to_string(result_status s);

// The outcome of one request.
struct result {
    result_status status = result_status::ok;
    std::string message;  // empty when ok, else what happened and what to do next
    // For changes: the position of the last change acknowledged together with
    // this one (acks may be batched), so at or after this change's position.
    ::starbus::position position;
    std::string primary;  // refused configuration changes: the primary that must serve
    std::string server;   // the broker that answered, when known

    [[nodiscard]] bool ok() const { return status == result_status::ok; }
};

// The outcome of get().
struct get_result : result {
    std::string value;                               // meaningful when ok()
    change_class cls = change_class::operational;    // class of the change that wrote it
};

// The outcome of dump(): the whole state as one broker holds it.
struct dump_result : result {
    std::string broker;           // who answered
    std::vector<change> entries;  // current entries (op put), sorted by key; `position` is where it was taken
    std::vector<file_entry> files;  // the file manifest at the same position, in path order
};

// One change for set_many() / submit().
struct change_request {
    change_op op = change_op::put;
    change_class cls = change_class::operational;
    std::string key;
    std::string value;  // ignored for erase

    [[nodiscard]] static change_request put(std::string key, std::string value,
                                            change_class cls = change_class::operational) {
        return {change_op::put, cls, std::move(key), std::move(value)};
    }
    [[nodiscard]] static change_request erase(std::string key, change_class cls = change_class::operational) {
        return {change_op::erase, cls, std::move(key), {}};
    }
};

// One change for apply_many(), as views of the caller's bytes.
struct change_view {
    change_op op = change_op::put;  // put or erase
    change_class cls = change_class::operational;
    std::string_view key;
    std::string_view value;  // ignored for erase
};

// The outcome of a batch: one result per request, in the order given.
struct batch_result {
    std::vector<result> results;

    // Every request succeeded.
    [[nodiscard]] bool ok() const { return failures() == 0; }
    [[nodiscard]] std::size_t failures() const {
        std::size_t n = 0;
        for (const auto& r : results) n += r.ok() ? 0 : 1;
        return n;
    }
};

// One asynchronous request (submit(), publish_async()) that did not succeed.
struct request_outcome {
    std::uint64_t ticket = 0;  // what submit() / publish_async() returned
    std::string key;           // the change's key or the message's topic
    result outcome;
};

// What flush_outcomes() found.
struct flush_result {
    result summary;                         // what flush() returns: ok, the first failure, or unreachable
    std::vector<request_outcome> failures;  // every failure since the last flush, in the order they finished
    std::size_t outstanding = 0;            // requests still unfinished at the deadline

    [[nodiscard]] bool ok() const { return summary.ok(); }
};

// ---- files ----

// A background download (client::begin_download) that finished.
struct download_outcome {
    std::uint64_t tag = 0;            // what begin_download() returned
    file_entry version;               // the version fetched
    bool ok = false;                  // complete and verified, at temp_path
    bool stale = false;               // failed because the cluster replaced or removed this version meanwhile
    std::string reason;               // when !ok: what happened and what to do next
    std::filesystem::path temp_path;  // when ok: the file, not yet fsynced; when !ok it is already deleted
};

// The outcome of list_files(): every file, in path order; `position` is the
// server's position when it listed them.
struct file_list_result : result {
    std::vector<file_entry> files;
};

// The outcome of stat_file(): not_found when the file does not exist.
struct file_stat_result : result {
    file_entry file;
};

// How far a transfer got, for progress displays.
struct transfer_progress {
    std::string path;              // the remote path (a mirror: the file being fetched, or "")
    std::uint64_t done_bytes = 0;
    std::uint64_t total_bytes = 0;
    std::size_t done_files = 0;    // a mirror: files fetched so far in this pass
    std::size_t total_files = 0;
};

// How put_file() and fetch_file() behave.
struct transfer_options {
    // Give up (unreachable) when no byte moved and no broker served for this long.
    std::chrono::milliseconds stall_timeout{30000};
    // Called as bytes move (about every 100 ms), on the calling thread.
    std::function<void(const transfer_progress&)> progress;
    // fetch_file: fsync the file before it replaces the destination (the file store's
    // rule); false for a scratch copy.
    bool durable = true;
};

// A message received on the bus.
struct bus_message {
    std::string topic;
    std::string payload;
    ::starbus::position position;   // where it sits in the cluster's log (0, 0 without a bus log)
    std::uint64_t publisher = 0;    // the publisher's client id and request id: a message's identity
    std::uint64_t request_id = 0;
    std::uint64_t time_ms = 0;      // when the server logged it (wall clock, ms since the epoch)
};

// Where a client's bus subscription starts when it has no position of its own.
struct subscribe_options {
    bus_start start = bus_start::latest;  // latest: what is published from now on; oldest: everything retained;
                                          // after: after `from`
    ::starbus::position from;             // with start = after: a position a message was received at
};

// Who serves, as far as a client knows.
struct server_info {
    std::string name;
    std::uint64_t epoch = 0;  // the server's epoch (raised by every takeover)
};

// One row of status_all(): a broker's own report, or "down" when it did not answer.
struct broker_status {
    std::string name;
    std::uint32_t rank = 0;
    bool reachable = false;
    std::string role;  // active, passive, syncing (role_name(state)), or down when unreachable
    broker_state state = broker_state::starting;  // meaningful when reachable
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;      // last applied change
    std::uint64_t pending = 0;  // changes and files still to sync (replica), or to acknowledge (server)
    std::uint64_t pending_files = 0;  // files still to fetch (replica) or being uploaded (server)
    std::uint64_t pending_bytes = 0;  // bytes of those files not yet received
    std::uint32_t clients = 0;  // clients the broker heard recently
    std::string server;         // who serves, as this broker knows it
    std::string note;           // why it does not serve, or why it is down
    bool key_refused = false;   // CURVE: the broker refused this client's key (not in the access list)
    // What the broker runs, to see a mixed-version cluster during an upgrade: empty (0) when it did not answer,
    // and release and libzmq empty from a broker that predates them (docs/protocol.md "STATUS-REPLY").
    std::uint32_t protocol = 0;  // the protocol version of its reply
    std::string release;         // its starbus release, "0.1.0"
    std::string libzmq;          // the libzmq it runs on, "4.3.4"
};

// ---- events reported to the application (client::on_event) ----

// The serving broker changed: first connection, failover or failback.
struct server_changed {
    std::string name;
    std::uint64_t epoch = 0;
};

// The serving broker stopped answering or stopped serving; the client is
// looking for the new one (server_changed follows when it is found).
struct server_lost {
    std::string name;
    std::string reason;
};

// The mirrored state (client_options::mirror_state) caught up with the server.
struct synchronised {
    std::uint64_t epoch = 0;  // position of the last change held locally
    std::uint64_t seq = 0;
    bool full = false;        // a full snapshot (true) or a delta (false)
};

// The cluster refused a change for good (not retried).
struct change_refused {
    std::string key;
    std::string reason;   // the broker's explanation
    std::string primary;  // configuration changes: the primary that must serve
};

// Bus messages may have been missed: messages logged after position seq
// from_seq - 1 and up to through_seq are gone (dropped for retention while
// this client was behind, or left on a history the new server does not hold).
struct bus_gap {
    std::uint64_t from_seq = 0;
    std::uint64_t through_seq = 0;
};

// CURVE: a broker refused this client's key (not, or no longer, in the access
// list), or its role does not allow what a subscription or the mirror asks
// (BUS-FETCH, SNAPSHOT). Requests fail with status not_authorised by
// themselves; this tells an application that only listens.
struct key_refused {
    std::string broker;
    std::string reason;
};

using client_event = std::variant<server_changed, server_lost, synchronised, change_refused, bus_gap, key_refused>;

// One line describing an event, for logs.
[[nodiscard]] std::string describe(const client_event& e);

}  // namespace starbus
