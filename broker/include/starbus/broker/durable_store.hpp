// File: durable_store.hpp
// A broker's replica on disk, in its data directory, so that a restarted broker
// comes back with everything it had acknowledged (protocol.md "Reliability"), and
// the highest epoch it ever knew (so that a takeover never reuses an epoch).
//
// Files in the data directory (all integers little-endian; crc = CRC-32C,
// Castagnoli, as in iSCSI/ext4; msgpack = the MessagePack encoding of the types
// in starbus/wire/types.hpp):
//
//   LOCK      flock()ed by the broker that owns the directory; holds its pid as
//             text, for the error message a second broker gets.
//   meta      the highest epoch known, 24 bytes:
//               "SBMETA01" | u64 epoch | u32 crc(first 16 bytes) | u32 0
//             replaced whole: meta.tmp, fsync, rename, fsync directory.
//   snapshot  the compacted state at some position, replaced whole the same way:
//               header (24 bytes): "SBSNAP01" | u64 body length | u32 crc(body)
//                                  | u32 crc(first 20 bytes of the header)
//               body: a sequence of msgpack objects:
//                 position | entry count | change... | request count | request_record...
//                 (the changes: the keys' current values, the files as file_put, then
//                 the retained bus messages in log order)
//                 [| bus_dropped_through | epoch_span array (up to limits::max_epoch_spans)]
//             Read one object at a time, each within the decoder limits of
//             store_codec.cpp, which admit the largest object written.
//             Missing only in a fresh directory (then the state is empty at (0, 0)).
//   log       the changes applied after the snapshot, append-only:
//               header (32 bytes): "SBLOG001" | u64 base epoch | u64 base seq | u32 0
//                                  | u32 crc(first 28 bytes)
//               records: u32 payload length | u32 crc(length bytes + payload) | payload
//               payload: one msgpack `change`
//             The header's base is the position of the snapshot the log follows:
//             the first record has seq base.seq + 1, and each next record seq + 1.
//             A new log (after a snapshot) is written as log.tmp and renamed over.
//
// Recovery: the snapshot is loaded (a missing or corrupt one, when the log says
// there should be one, is a storage_error: never start empty silently). The log
// is replayed record by record (streamed, not read whole) and stops at the first
// torn, corrupt or non-contiguous record; the file is cut back there (with a
// warning saying how many bytes). A log whose base is not the snapshot's
// position predates the snapshot (a crash between the snapshot's rename and the
// log's replacement): its records up to the snapshot's seq are skipped, and the
// rest are kept only when its record at the snapshot's seq is the snapshot's
// position (same history); recovery then finishes the replacement. So a crash
// at any point yields the old state or the new one, never a mix.
//
// Code: the snapshot file and the log are units of their own (broker/src/
// snapshot_file.hpp, change_log.hpp), sharing store_codec.hpp; the POSIX calls,
// the atomic replacement and CRC-32C are in starbus/files/posix_io.hpp. This
// class composes them and decides, at recovery, which files hold the history.
//
// Compaction (when a new snapshot replaces the log): start-up reads the
// snapshot, then replays the whole log, record by record; a record costs about
// twice a snapshot entry to read back (decode, checks, apply) and may only
// overwrite a key the snapshot already holds. So the log is kept small next to
// the snapshot: compaction_rule below. A fixed record count (the rule before
// issue 13) let a small state's log grow to many times the state (start-up
// replays superseded records: 200,000 of them for 10,000 keys) and rewrote a
// large state every few of its own sizes in changes (1 M keys: 5 snapshots of
// growing size while loading them, quadratic in the key count); a log bounded
// by a fraction of the snapshot's bytes keeps both linear.
// A broker compacts in the background (compact_in_background()), as Redis
// rewrites its files: a forked child writes the snapshot of the state as it was
// at the fork (copy-on-write pages, no copy made), while the broker goes on
// appending to the same log; once the child has renamed the snapshot into place
// the log is cut down to the records after it (copied as bytes into log.tmp,
// renamed over). Until then the old snapshot and the whole log are intact, and
// a crash after the new snapshot's rename is the case recovery already finishes
// (a log that predates the snapshot). Written on the reactor's thread, a state
// of hundreds of MiB stopped the broker, heartbeats included, for longer than
// an expiry, and a retained bus spent a sixth of its server's time there.
// Anything that writes a snapshot itself (install_snapshot, maybe_compact)
// first stops a child at work, so that an older snapshot never lands on a newer.
//
// Writes: append() encodes into a memory buffer; flush() writes the buffer with
// one pwrite() and, with fsync_mode::batch, one fdatasync(). A failed write is
// cut back and can be retried (the records stay buffered). After a failed
// fdatasync, or a failed install_snapshot or compaction, the store refuses every
// further flush (after a failed fdatasync the kernel may have dropped the dirty
// pages: a retry could report success for data that is not on disk); the broker
// must stop and restart, which recovers from what really is on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include <starbus/config/cluster_config.hpp>
#include <starbus/state/kv_state.hpp>
#include <starbus/files/posix_io.hpp>
#include <starbus/wire/types.hpp>

namespace starbus {

// storage_error (starbus/files/posix_io.hpp) is what every failure of the
// data directory throws: its message names the file and says what to do next.

// When the log is long enough to be folded into a new snapshot: once it holds
// at least `log_per_snapshot` times the snapshot's bytes, and never below
// `min_log_bytes`. Start-up then replays at most about log_per_snapshot x the
// state's bytes (or min_log_bytes) on top of the snapshot, whatever the key
// count or value size; and the snapshots written grow geometrically, so all
// the compactions of a growing state write O(state) bytes, not O(state^2):
// each log byte is rewritten about 1 / log_per_snapshot times in snapshots.
struct compaction_rule {
    // A small state is not rewritten every few changes (nor a retained bus every few publishes): at most
    // about 110,000 records of 100-byte values, some 0.2 s of replay.
    std::uint64_t min_log_bytes = 16 << 20;
    // The log's bytes next to the snapshot's, at most. Half: a log record costs about 1.5x a snapshot entry
    // to read back (bench: recovery time), so the log is at most about 40 % of a start-up, while each change
    // is written about 3 times in all (log, then snapshots); a quarter measured 35 % slower loads of large
    // values for little start-up gained.
    double log_per_snapshot = 0.5;
};

// The rule as a pure function: whether a log of `log_bytes` (buffered records included) after a snapshot
// of `snapshot_bytes` (0: none) is due for compaction.
[[nodiscard]] bool compaction_due(std::uint64_t log_bytes, std::uint64_t snapshot_bytes, const compaction_rule& rule);

class durable_store {
  public:
    struct recovered {
        kv_state state;              // snapshot + every valid log record after it
        std::vector<change> tail;    // the log records applied after the snapshot (seeds change_history)
        position snapshot_position;  // where the snapshot was taken (the history's base)
        std::uint64_t epoch = 0;     // highest epoch known (meta file), >= state.last().epoch
        std::size_t torn_bytes = 0;  // bytes cut off the end of the log (a torn or corrupt tail)
    };

    // Opens (creating if needed) `dir` and takes an exclusive lock on it: a
    // second broker on the same directory gets storage_error "data directory X
    // is in use by another broker (pid N)".
    durable_store(const std::filesystem::path& dir, fsync_mode mode);
    durable_store(durable_store&&) noexcept;
    durable_store& operator=(durable_store&&) noexcept;
    ~durable_store();

    // Loads the snapshot and replays the log, cutting off a torn tail. Call once
    // after opening, before any other call. `retention`: how many bus messages
    // the recovered state keeps (kv_state::set_bus_retention).
    [[nodiscard]] recovered recover(const bus_retention& retention = {});

    // Buffers the next change in memory (no syscall); its seq must follow the
    // last change appended or recovered.
    void append(const change& c);
    void append(const std::vector<change>& batch);

    // Writes the buffered records with one write() and, with fsync_mode::batch,
    // one fdatasync(). Call once per reactor batch before sending that batch's
    // acknowledgements. Throws storage_error on I/O errors (disk full, data
    // directory removed); the records stay buffered after a failed write.
    void flush();

    // Records the highest epoch known, durably (temp file, fsync, rename, fsync
    // directory), before the broker serves with it. An epoch not above the one
    // already saved changes nothing: the highest epoch known never goes down.
    void save_epoch(std::uint64_t epoch);

    // Replaces the whole replica with `s` (after a full snapshot from the
    // server), buffered records included: writes the snapshot file then a new
    // empty log. Crash-safe at every step (see the file comment).
    void install_snapshot(const kv_state& s);

    // When compaction_due() says so for the log and the snapshot, writes a
    // snapshot of `s` (which must equal snapshot + log) and starts a new empty
    // log. Returns whether it did. Called after every flush.
    bool maybe_compact(const kv_state& s, const compaction_rule& rule = {});
    // The same when the log holds more than `max_log_records` records (for tests that want a snapshot at a
    // chosen point).
    bool maybe_compact(const kv_state& s, std::size_t max_log_records);

    // The same decision, but the snapshot is written by a forked child while the caller goes on (see the
    // file comment); flush() notices when it is done and cuts the log. Returns whether a child was started
    // (false also while one is at work, and for a while after one failed). Where fork() fails, compacts
    // here and now, as maybe_compact().
    bool compact_in_background(const kv_state& s, const compaction_rule& rule = {});
    // A compaction child is at work.
    [[nodiscard]] bool compacting() const;
    // Waits (bounded by the child's work) until a child at work is done and its outcome applied: for tests
    // and a clean stop.
    void finish_compaction();

    // Records in the log since the last snapshot, buffered ones included.
    [[nodiscard]] std::size_t log_records() const;
    // Bytes of the log (header and records, buffered ones included), and of the snapshot file (0: none).
    [[nodiscard]] std::uint64_t log_bytes() const;
    [[nodiscard]] std::uint64_t snapshot_bytes() const;

    [[nodiscard]] const std::filesystem::path& directory() const;

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace starbus
