// File: types.hpp
// The vocabulary shared by brokers and clients: positions in the change log, the
// two classes of change, one change record, and the limits every decoder enforces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

namespace starbus {

// Where a change sits in the cluster's history. `seq` never goes back, across
// epochs; `epoch` is raised by every takeover. Two replicas whose last change has
// the same (epoch, seq) hold the same history up to it.
struct position {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;

    friend bool operator==(const position&, const position&) = default;
    MSGPACK_DEFINE(epoch, seq)
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
    MSGPACK_DEFINE(epoch, seq, op, cls, key, value, client_id, request_id, time_ms)
};

// A request that was applied, remembered so that a retry is answered, not re-applied.
struct request_record {
    std::uint64_t client_id = 0;
    std::uint64_t request_id = 0;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;

    friend bool operator==(const request_record&, const request_record&) = default;
    MSGPACK_DEFINE(client_id, request_id, epoch, seq)
};

// One epoch's stretch of a history: the seqs of its first and last change.
// A replica describes its recent history with these when it says hello, so
// that the server can tell where two diverged histories part (the fork).
struct epoch_span {
    std::uint64_t epoch = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;

    friend bool operator==(const epoch_span&, const epoch_span&) = default;
    MSGPACK_DEFINE(epoch, first_seq, last_seq)
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

MSGPACK_ADD_ENUM(starbus::change_class);
MSGPACK_ADD_ENUM(starbus::change_op);
