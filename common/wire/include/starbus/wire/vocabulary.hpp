// File: vocabulary.hpp
// The vocabulary shared by brokers, clients and applications: positions in the
// change log, the two classes of change, one change record, a broker's state,
// where a bus subscription starts, and the limits every decoder enforces.
// Plain data and the standard library only: the client's public headers
// include this, so an application never inherits MessagePack's (or Boost's)
// configuration. Code that serialises these types includes types.hpp, which
// adds their MessagePack adaptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace starbus {

// Where a change sits in the cluster's history. `seq` never goes back, across
// epochs; `epoch` is raised by every takeover. Two replicas whose last change has
// the same (epoch, seq) hold the same history up to it.
struct position {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;

    friend bool operator==(const position&, const position&) = default;
};

// Every takeover starts a new epoch, and an epoch belongs to the one broker that
// started it: epoch = counter * epoch_stride + rank. Two brokers that take over
// on two sides of a partition therefore never share an epoch, and a position
// (epoch, seq) names one history (deltas, and the fork between two histories,
// rely on that). A cluster has at most epoch_stride brokers.
inline constexpr std::uint64_t epoch_stride = 256;
// The first epoch after every epoch in `known` that broker `rank` may start.
[[nodiscard]] inline std::uint64_t next_epoch(std::uint64_t known, std::uint32_t rank) {
    return (known / epoch_stride + 1) * epoch_stride + rank;
}
// The rank of the broker that started epoch `e`.
[[nodiscard]] inline std::uint32_t epoch_owner(std::uint64_t e) { return static_cast<std::uint32_t>(e % epoch_stride); }

// Configuration changes are accepted only while the primary (rank 0) serves;
// operational changes are accepted by whichever broker serves.
enum class change_class : std::uint8_t { operational = 0, config = 1 };

// put/erase change a key; file_put/file_erase change a file of the file store
// (key = the canonical remote path, value = the packed file_meta of file_manifest.hpp).
// File changes are always of class config and sit in the same ordered log as keys.
// publish is a bus message (key = topic, value = payload, class operational):
// logged and replicated like any change, and retained for a while (kv_state's
// bus log) so that subscribers catch up after a failover.
enum class change_op : std::uint8_t { put = 0, erase = 1, file_put = 2, file_erase = 3, publish = 4 };

[[nodiscard]] inline bool is_file_op(change_op o) { return o == change_op::file_put || o == change_op::file_erase; }

[[nodiscard]] std::string_view to_string(change_class c);
[[nodiscard]] std::string_view to_string(change_op o);

// One entry of the ordered change log, as stored, replicated and published.
struct change {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    change_op op = change_op::put;
    change_class cls = change_class::operational;
    std::string key;
    std::string value;              // empty for erase
    std::uint64_t client_id = 0;    // who asked for it (0: internal); with request_id, the dedupe key
    std::uint64_t request_id = 0;
    std::uint64_t time_ms = 0;      // publish: the server's wall clock when it logged it (retention by age)

    [[nodiscard]] position pos() const { return {epoch, seq}; }
    friend bool operator==(const change&, const change&) = default;
};

// A request that was applied, remembered so that a retry is answered, not re-applied.
struct request_record {
    std::uint64_t client_id = 0;
    std::uint64_t request_id = 0;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;

    friend bool operator==(const request_record&, const request_record&) = default;
};

// The internal role of a broker (the FSM state, see broker/fsm.hpp). On the
// wire and in `status` the coarser role() below is shown.
enum class broker_state : std::uint8_t {
    starting = 0,  // just started: listening one peer expiry for a broker that already serves
    stalled = 1,   // nobody serves and this broker may not (yet): `status` says why
    syncing = 2,   // a replica of the server, still catching up
    passive = 3,   // a synchronised replica of the server
    active = 4,    // serving
    handover = 5,  // serving no writes: handing the role to a broker of lower rank
};
inline constexpr int broker_state_count = 6;

[[nodiscard]] std::string_view to_string(broker_state s);
// The role shown by `starbus status`: active, passive or syncing (handover
// shows as passive: it takes no writes).
[[nodiscard]] std::string_view role_name(broker_state s);
// True in the states whose replica holds everything the server acknowledged.
[[nodiscard]] bool is_synchronised(broker_state s);

// Where a bus subscriber starts, when it has no position of its own yet
// (docs/protocol.md "The bus").
enum class bus_start : std::uint8_t {
    after = 0,   // after (after_epoch, after_seq): a subscriber resuming
    latest = 1,  // only what is published from now on
    oldest = 2,  // every message still retained
};

// One epoch's stretch of a history: the seqs of its first and last change.
// A replica describes its recent history with these when it says hello, so
// that the server can tell where two diverged histories part (the fork).
struct epoch_span {
    std::uint64_t epoch = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;

    friend bool operator==(const epoch_span&, const epoch_span&) = default;
};

// Limits that every decoder and every broker enforce; larger input is refused
// with an error reply, never truncated.
namespace limits {
inline constexpr std::size_t max_key_bytes = 1024;
inline constexpr std::size_t max_value_bytes = 1024 * 1024;
inline constexpr std::size_t max_topic_bytes = 1024;
inline constexpr std::size_t max_payload_bytes = 1024 * 1024;
inline constexpr std::size_t max_name_bytes = 64;
// Whole frames above this are refused with TOO_LARGE (up to four times it; beyond,
// libzmq drops the connection: ZMQ_MAXMSGSIZE).
inline constexpr std::int64_t max_frame_bytes = 8 * 1024 * 1024;
// The most requests one PUBLISH-MANY or SET-MANY carries (its frame is within max_frame_bytes besides).
inline constexpr std::size_t max_requests_per_many = 10000;
// How many applied requests each replica remembers for deduplication.
inline constexpr std::size_t remembered_requests = 65536;
// The largest chunk a FETCH may ask for (a CHUNK frame stays well under the frame limit).
inline constexpr std::uint64_t max_chunk_bytes = 4 * 1024 * 1024;
// The most entries one FILE-MANIFEST page carries.
inline constexpr std::uint32_t max_list_entries = 1000;
// The most topic prefixes one BUS-FETCH may name.
inline constexpr std::size_t max_bus_prefixes = 64;
// The largest subscription message a broker's publish and heartbeat ports
// accept (libzmq: one byte 1/0, then the prefix): "B" + the longest topic fits,
// with room to spare. Beyond it libzmq drops the connection, so a hostile
// subscriber cannot make the broker store megabytes of prefix.
inline constexpr std::int64_t max_subscription_bytes = 4096;
// The most epoch spans a history keeps (kv_state::epochs) and a REPL-HELLO or
// SNAPSHOT-END carries: the oldest are forgotten first, which only makes a
// fork older than all of them look like no common history (a full resync).
inline constexpr std::size_t max_epoch_spans = 1024;
}  // namespace limits

}  // namespace starbus
