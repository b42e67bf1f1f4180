// File: messages.hpp
// One struct per protocol command, in the order of docs/protocol.md section
// "Commands". Each is encoded as the body of the envelope defined in codec.hpp.
// Field order is wire order: append new fields at the end only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <starbus/wire/file_entry.hpp>
#include <starbus/wire/types.hpp>

namespace starbus {

// Error codes carried by error_reply; docs/protocol.md "Error codes".
enum class error_code : std::uint8_t {
    not_serving = 1,       // this broker does not serve; `server` names who does, if known
    config_refused = 2,    // configuration change while the primary does not serve
    bad_request = 3,       // malformed message, wrong type or invalid field
    too_large = 4,         // a key, value, topic or payload over the limit
    unknown_command = 5,   // a command code this broker does not know
    retry_later = 6,       // a handover is in progress: retry in a moment
    bad_version = 7,       // protocol signature or version not understood
    refused = 8,           // a request not allowed in this state (e.g. force while another serves)
    stale_version = 9,     // FETCH of a file version this broker does not hold (replaced, removed or never had)
    storage_failed = 10,   // the broker could not store a file: out of space or an I/O error; nothing changed
    not_authorised = 11,   // the sender's key is not (or no longer) in the access list, or its role does not allow this
};
inline constexpr int error_code_max = 11;
[[nodiscard]] std::string_view to_string(error_code c);

// Command codes, the third element of every envelope.
enum class command : std::uint8_t {
    set_request = 1,
    get_request = 2,
    value_reply = 3,
    snapshot_request = 4,
    snapshot_part = 5,
    snapshot_end = 6,
    publish_request = 7,
    ack_reply = 8,
    error_reply = 9,
    status_request = 10,
    status_reply = 11,
    force_request = 12,
    ping = 13,
    pong = 14,
    repl_hello = 20,
    change_batch = 21,
    repl_ack = 22,
    handover_request = 23,
    handover_go = 24,
    heartbeat = 30,
    file_list_request = 40,
    file_list_reply = 41,
    fetch_request = 42,
    file_chunk = 43,
    file_put_request = 44,
    file_remove_request = 45,
    bus_fetch_request = 50,
    bus_batch = 51,
    publish_many_request = 52,
    set_many_request = 53,
};
[[nodiscard]] std::string_view to_string(command c);

// ---- client -> broker, on the broker's request endpoint (ROUTER) ----

// C: apply one change (put or erase) of a class.
struct set_request {
    std::uint64_t request_id = 0;   // unique per client; a retry reuses it
    std::uint64_t client_id = 0;    // random per client session; with request_id, the dedupe key
    change_op op = change_op::put;
    change_class cls = change_class::operational;
    std::string key;
    std::string value;              // ignored for erase
    static constexpr command code = command::set_request;
    MSGPACK_DEFINE(request_id, client_id, op, cls, key, value)
};

// C: read one key from the serving broker.
struct get_request {
    std::uint64_t request_id = 0;
    std::string key;
    static constexpr command code = command::get_request;
    MSGPACK_DEFINE(request_id, key)
};

// S: the answer to get_request.
struct value_reply {
    std::uint64_t request_id = 0;
    bool found = false;
    std::string value;
    change_class cls = change_class::operational;
    std::uint64_t epoch = 0;        // position of the change that wrote the value
    std::uint64_t seq = 0;
    static constexpr command code = command::value_reply;
    MSGPACK_DEFINE(request_id, found, value, cls, epoch, seq)
};

// C: send me the state. When (from_epoch, from_seq) is a position in the
// broker's recent history, only the changes after it are sent (delta); else a
// full snapshot. Any broker answers from its own replica (serving or not);
// a client that mirrors the server sets require_serving.
struct snapshot_request {
    std::uint64_t request_id = 0;
    std::uint64_t from_epoch = 0;
    std::uint64_t from_seq = 0;
    bool require_serving = false;
    static constexpr command code = command::snapshot_request;
    MSGPACK_DEFINE(request_id, from_epoch, from_seq, require_serving)
};

// S: part of a full snapshot: current entries (op put), in key order.
struct snapshot_part {
    std::uint64_t request_id = 0;
    std::vector<change> entries;
    static constexpr command code = command::snapshot_part;
    MSGPACK_DEFINE(request_id, entries)
};

// S: end of a snapshot or delta. The receiver now holds everything up to
// (epoch, seq). `requests` are the applied-request records (full snapshot only).
struct snapshot_end {
    std::uint64_t request_id = 0;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    bool is_delta = false;
    std::vector<request_record> requests{};
    // A full snapshot for a replica whose history diverged: its changes after
    // fork_seq are not in the server's history (fork_known false: the server
    // cannot tell). The replica replays them (docs/protocol.md "Reconciliation").
    bool fork_known = false;
    std::uint64_t fork_seq = 0;
    std::uint64_t bus_dropped_through = 0;  // full snapshot: the newest bus message dropped for retention
    std::vector<epoch_span> epochs{};       // full snapshot: the epochs of the sender's history (kv_state::epochs)
    static constexpr command code = command::snapshot_end;
    MSGPACK_DEFINE(request_id, epoch, seq, is_delta, requests, fork_known, fork_seq, bus_dropped_through, epochs)
};

// C: publish a message on the bus.
struct publish_request {
    std::uint64_t request_id = 0;
    std::uint64_t client_id = 0;
    std::string topic;
    std::string payload;
    static constexpr command code = command::publish_request;
    MSGPACK_DEFINE(request_id, client_id, topic, payload)
};

// C: several bus messages in one frame, each exactly a PUBLISH (its own
// request_id, answered on its own), handled in order as if sent one by one.
// One frame instead of one per message: the sender, the broker and libzmq
// pay per frame, not per message (docs/protocol.md "PUBLISH-MANY").
// request_id is the first publish's, so that an error about the frame as a
// whole (or UNKNOWN_COMMAND from a broker that predates the command) names a
// request the sender knows.
struct publish_many_request {
    std::uint64_t request_id = 0;
    std::vector<publish_request> publishes;
    static constexpr command code = command::publish_many_request;
    MSGPACK_DEFINE(request_id, publishes)
};

// C: several SETs in one frame, each exactly a SET (its own request_id, its
// own answer), applied in order as if sent one by one (docs/protocol.md
// "SET-MANY"). request_id is the first SET's.
struct set_many_request {
    std::uint64_t request_id = 0;
    std::vector<set_request> sets;
    static constexpr command code = command::set_many_request;
    MSGPACK_DEFINE(request_id, sets)
};

// A PUBLISH whose topic and payload view the frame it came from: valid only
// while that frame lives.
struct publish_view {
    std::uint64_t request_id = 0;
    std::uint64_t client_id = 0;
    std::string_view topic;
    std::string_view payload;
};
[[nodiscard]] inline publish_view publish_view_of(const publish_request& r) {
    return {r.request_id, r.client_id, r.topic, r.payload};
}

// S: one or more requests were applied. For set_request, (epoch, seq) is the
// change's position; for publish_request they are 0. Acks may be batched.
struct ack_reply {
    std::vector<std::uint64_t> request_ids;
    std::uint64_t epoch = 0;        // position of the last change acknowledged here
    std::uint64_t seq = 0;
    static constexpr command code = command::ack_reply;
    MSGPACK_DEFINE(request_ids, epoch, seq)
};

// S: a request failed. request_id is 0 when the request could not be decoded.
struct error_reply {
    std::uint64_t request_id = 0;
    error_code code_value = error_code::bad_request;
    std::string text;               // for the operator: what happened and what to do
    std::string server;             // name of the broker that serves, when known
    std::string primary;            // name of the primary configuration server
    static constexpr command code = command::error_reply;
    MSGPACK_DEFINE(request_id, code_value, text, server, primary)
};

// C: describe yourself. Answered in every state.
struct status_request {
    std::uint64_t request_id = 0;
    static constexpr command code = command::status_request;
    MSGPACK_DEFINE(request_id)
};

// S: the answer to status_request.
struct status_reply {
    std::uint64_t request_id = 0;
    std::string name;
    std::uint32_t rank = 0;
    broker_state state = broker_state::starting;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;          // last applied change
    std::uint64_t pending = 0;      // changes still to sync (replica) or to acknowledge (server)
    std::uint32_t clients = 0;      // clients heard within the last few heartbeats
    std::string server;             // who serves, as this broker knows it ("" if nobody)
    std::string note;               // why this broker does not serve, or ""
    std::uint64_t pending_files = 0;  // files still to fetch before the replica holds every version it lists
    std::uint64_t pending_bytes = 0;  // bytes of those files not yet received
    // Appended within version 1 (docs/protocol.md "Versioning"): empty from a broker that predates them.
    std::string release;            // the broker's starbus release, "0.1.0"
    std::string libzmq;             // the libzmq it runs on, "4.3.4"
    static constexpr command code = command::status_reply;
    MSGPACK_DEFINE(request_id, name, rank, state, epoch, seq, pending, clients, server, note, pending_files,
                   pending_bytes, release, libzmq)
};

// C (operator): serve now, even though this broker cannot prove it holds every
// acknowledged change. Refused while another broker serves.
struct force_request {
    std::uint64_t request_id = 0;
    static constexpr command code = command::force_request;
    MSGPACK_DEFINE(request_id)
};

// C: I am alive (counts in `clients`). Answered with pong. A client that has
// no server it can use (it could not get service from the one it knew, or it
// has not found one yet) sets wants_service: only then does the PING count as
// a vote (docs/protocol.md "Votes").
struct ping {
    std::uint64_t client_id = 0;
    std::uint64_t request_id = 0;   // echoed by the pong (appended: 0 from an older peer)
    bool wants_service = false;     // asks for service: a vote (appended: false from an older peer)
    static constexpr command code = command::ping;
    MSGPACK_DEFINE(client_id, request_id, wants_service)
};

// S: answer to ping.
struct pong {
    broker_state state = broker_state::starting;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;          // last committed change
    std::string server;             // who serves, as this broker knows it
    std::uint64_t request_id = 0;   // the ping's (appended last: an older broker's pong lacks it, read as 0)
    static constexpr command code = command::pong;
    MSGPACK_DEFINE(state, epoch, seq, server, request_id)
};

// ---- replica <-> server, a replica's DEALER to the server's ROUTER ----

// R: start replicating to me; I hold everything up to (epoch, seq).
struct repl_hello {
    std::string name;
    std::uint32_t rank = 0;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::uint64_t session = 0;      // random per attempt: replies carry it as request_id
    std::vector<epoch_span> epochs{}; // the epochs of my recent history, oldest first (to find a fork)
    static constexpr command code = command::repl_hello;
    MSGPACK_DEFINE(name, rank, epoch, seq, session, epochs)
};

// S: consecutive changes (seq ascending, no gaps). To replicas: every change,
// as soon as logged. On the publish endpoint to clients: committed changes.
struct change_batch {
    std::vector<change> changes;
    std::uint64_t commit_seq = 0;   // highest seq the server has acknowledged
    // In a delta: the request_id of the snapshot_end that ends it (the SNAPSHOT's, or the replication
    // session). 0 in the live stream (to a replica after its catch-up, and on the publish endpoint), and
    // from an older broker, which did not send it (appended last).
    std::uint64_t request_id = 0;
    static constexpr command code = command::change_batch;
    MSGPACK_DEFINE(changes, commit_seq, request_id)
};

// R: I hold (on disk) every change up to seq.
struct repl_ack {
    std::uint64_t seq = 0;
    static constexpr command code = command::repl_ack;
    MSGPACK_DEFINE(seq)
};

// R: I outrank you and I am synchronised: hand the role to me.
struct handover_request {
    std::string name;
    std::uint32_t rank = 0;
    std::uint64_t seq = 0;
    static constexpr command code = command::handover_request;
    MSGPACK_DEFINE(name, rank, seq)
};

// S: I stopped taking writes; my last change is (epoch, seq). Serve now.
struct handover_go {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    static constexpr command code = command::handover_go;
    MSGPACK_DEFINE(epoch, seq)
};

// ---- broker -> brokers, on the heartbeat endpoint (PUB/SUB) ----

// B: my state, every heartbeat interval and on every change of state.
struct heartbeat {
    std::string name;
    std::uint32_t rank = 0;
    broker_state state = broker_state::starting;
    std::uint64_t epoch = 0;        // the highest epoch this broker knows
    std::uint64_t seq = 0;          // last applied change
    std::uint64_t last_epoch = 0;   // epoch of the last applied change
    std::string following;          // the server this broker replicates from, or ""
    // The `session` of this broker's current REPL-HELLO to `following` (0: none). Said on the broker's own
    // heartbeat port, it tells the server which replication session really is this broker's: only that one
    // counts for acknowledgements and may ask for a handover (docs/protocol.md "Replication sessions").
    std::uint64_t repl_session = 0;
    static constexpr command code = command::heartbeat;
    MSGPACK_DEFINE(name, rank, state, epoch, seq, last_epoch, following, repl_session)
};

// ---- files (docs/protocol.md "File transfer") ----

// C: a page of the server's file manifest, in path order: the entries whose
// path is `from` or after it (byte order), at most `limit` of them.
struct file_list_request {
    std::uint64_t request_id = 0;
    std::string from;               // "" from the first file
    std::uint32_t limit = limits::max_list_entries;
    static constexpr command code = command::file_list_request;
    MSGPACK_DEFINE(request_id, from, limit)
};

// S: the answer to file_list_request.
struct file_list_reply {
    std::uint64_t request_id = 0;
    std::uint64_t epoch = 0;        // the server's position when it read the manifest
    std::uint64_t seq = 0;
    std::vector<file_entry> entries;
    std::string next;               // the `from` of the next page; "" when this was the last
    static constexpr command code = command::file_list_reply;
    MSGPACK_DEFINE(request_id, epoch, seq, entries, next)
};

// Receiver -> sender: send me bytes [offset, offset + length) of the version
// `hash` of `path`. From a client or a replica to a broker (downloads), and
// from the server to a client (uploads). The receiver keeps a bounded number
// of these in flight (its credit).
struct fetch_request {
    std::uint64_t request_id = 0;   // echoed by the chunk
    std::string path;
    std::string hash;               // SHA-256 of the version
    std::uint64_t offset = 0;
    std::uint64_t length = 0;       // 1 .. limits::max_chunk_bytes, within the file
    static constexpr command code = command::fetch_request;
    MSGPACK_DEFINE(request_id, path, hash, offset, length)
};

// Sender -> receiver: the bytes one fetch_request asked for. `data` is last so
// that a sender can read the file straight into the frame (codec.hpp
// encode_chunk_frame) and a receiver can write it from the frame.
struct file_chunk {
    std::uint64_t request_id = 0;   // the fetch_request's
    std::string path;
    std::string hash;
    std::uint64_t offset = 0;
    std::uint64_t checksum = 0;     // XXH3-64 of data (fast_hash.hpp chunk_checksum)
    std::vector<char> data;         // exactly the length asked for (MessagePack bin)
    static constexpr command code = command::file_chunk;
    MSGPACK_DEFINE(request_id, path, hash, offset, checksum, data)
};

// C: put a file: a configuration change, accepted only while the primary
// serves. The server fetches the content from the client (fetch_request to
// the client, which answers file_chunk), checks both digests, stores it, and
// answers ACK once the change is acknowledged like a SET.
struct file_put_request {
    std::uint64_t request_id = 0;
    std::uint64_t client_id = 0;
    std::string path;               // canonical remote path
    std::uint64_t size = 0;
    std::string hash;               // SHA-256, lowercase hex
    std::string xxh;                // XXH3-128, lowercase hex
    static constexpr command code = command::file_put_request;
    MSGPACK_DEFINE(request_id, client_id, path, size, hash, xxh)
};

// C: remove a file (a configuration change; removing an absent file is not an error).
struct file_remove_request {
    std::uint64_t request_id = 0;
    std::uint64_t client_id = 0;
    std::string path;
    static constexpr command code = command::file_remove_request;
    MSGPACK_DEFINE(request_id, client_id, path)
};

// ---- the lossless bus (docs/protocol.md "The bus") ----

// C: the bus messages after a position whose topic starts with one of
// `prefixes` ("" matches every topic), at most `max_messages` of them. When
// there is none yet, the server holds the request up to `wait_ms` and answers
// as soon as one is committed (a long poll): one request per batch, no loss.
struct bus_fetch_request {
    std::uint64_t request_id = 0;
    std::uint64_t client_id = 0;
    std::uint64_t after_epoch = 0;
    std::uint64_t after_seq = 0;
    std::vector<std::string> prefixes;
    std::uint32_t max_messages = 1000;
    std::uint32_t wait_ms = 0;
    bus_start start = bus_start::after;
    static constexpr command code = command::bus_fetch_request;
    MSGPACK_DEFINE(request_id, client_id, after_epoch, after_seq, prefixes, max_messages, wait_ms, start)
};

// S: acknowledged bus messages in log order (publish changes: topic in key,
// payload in value, the publisher's client_id and request_id), and the
// position to ask from next. gap_through > 0: messages published after the
// asked position and up to seq gap_through are gone (dropped for retention,
// or the position belonged to a history this server does not hold) and may
// have been missed: the subscriber reports a gap.
struct bus_batch {
    std::uint64_t request_id = 0;
    std::vector<change> messages;
    std::uint64_t next_epoch = 0;
    std::uint64_t next_seq = 0;
    std::uint64_t gap_from = 0;     // the first seq of the gap (the asked position + 1)
    std::uint64_t gap_through = 0;  // 0: no gap
    static constexpr command code = command::bus_batch;
    MSGPACK_DEFINE(request_id, messages, next_epoch, next_seq, gap_from, gap_through)
};

using message = std::variant<set_request, get_request, value_reply, snapshot_request, snapshot_part,
                             snapshot_end, publish_request, ack_reply, error_reply, status_request,
                             status_reply, force_request, ping, pong, repl_hello, change_batch, repl_ack,
                             handover_request, handover_go, heartbeat, file_list_request, file_list_reply,
                             fetch_request, file_chunk, file_put_request, file_remove_request, bus_fetch_request,
                             bus_batch, publish_many_request, set_many_request>;

}  // namespace starbus

MSGPACK_ADD_ENUM(starbus::broker_state);
MSGPACK_ADD_ENUM(starbus::error_code);
MSGPACK_ADD_ENUM(starbus::bus_start);
