// File: change_log.hpp
// The change log of a data directory: the changes applied after the snapshot,
// one CRC-framed msgpack record each, appended in batches. Its format (a
// header naming the position of the snapshot it follows, then records) is
// documented in durable_store.hpp and must not change.
//
// This unit knows the file: writing a new log whole, appending buffered
// records with one write per flush, reading the records back with every check
// (framing, checksum, decoding, seq contiguity) and cutting a torn or corrupt
// tail. Which records belong to the replica's history (a log that predates its
// snapshot) is the durable store's decision, made through read_back()'s
// callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <starbus/files/posix_io.hpp>
#include <starbus/wire/types.hpp>

namespace starbus {

// Size of the log's fixed header, before its first record.
constexpr std::size_t log_header_size = 32;

// The header of a log that follows a snapshot at `base`.
[[nodiscard]] std::string encode_log_header(position base);

// Appends one framed record (length, CRC, msgpack change) to `out`.
void encode_record(std::string& out, const change& c);

class change_log {
  public:
    // Where reading back stopped, and why.
    struct scan {
        std::uint64_t valid_end = log_header_size;  // offset just past the last record taken
        std::size_t taken = 0;                      // records the callback took
        std::uint64_t file_size = 0;                // bytes of the file when it was read
        std::string why;  // what was wrong at valid_end; empty at the clean end or when the callback stopped
    };

    // Writes a new log at `path` whole (path.tmp, fsync, rename, fsync the
    // directory): the header for `base`, then `records`. Throws storage_error.
    [[nodiscard]] static change_log create(const std::filesystem::path& path, position base,
                                           const std::vector<change>& records);

    // Opens the existing log at `path` and checks its header; nullopt when there
    // is no file. Throws storage_error when it cannot be opened or its header is
    // corrupt. Appends wait until read_back() and keep_valid() have found where
    // the valid records end.
    [[nodiscard]] static std::optional<change_log> open(const std::filesystem::path& path);

    // The position of the snapshot this log follows.
    [[nodiscard]] position base() const { return _base; }

    // Reads the records back in order, streamed through a bounded buffer. Each
    // must be whole, match its checksum, decode as a valid change and have the
    // seq after the one before it (the first: base().seq + 1); reading stops at
    // the first that does not, or when `take` returns false (that record is not
    // counted). Throws storage_error when the file cannot be read at all.
    [[nodiscard]] scan read_back(const std::function<bool(change&&)>& take);

    // Keeps what `s` (this log's read_back()) found valid: cuts the file back to
    // s.valid_end (and syncs it) when it is longer. The recovery of a torn or
    // corrupt tail; appends go after it.
    void keep_valid(const scan& s);

    // A new log at this log's path that follows a snapshot at `base` and holds this log's records from byte
    // `offset` on, `records_before` records coming before it: a compaction whose snapshot, taken at `base`
    // while this log was `offset` bytes long, is now in place. Written whole like create() (path.tmp, fsync,
    // rename, fsync the directory); the records are copied as bytes, not decoded. Nothing may be buffered.
    [[nodiscard]] change_log rebase(position base, std::uint64_t offset, std::size_t records_before) const;

    // Buffers one record in memory (no syscall).
    void append(const change& c);

    // Writes the buffered records with one pwrite() at the end of the valid
    // bytes and, when `sync`, one fdatasync(). A failed write is cut back and the
    // records stay buffered for a retry. After a failed fdatasync (or a write that
    // cannot be cut back) every later flush throws: what the file holds is
    // uncertain and only a restart, which recovers from the disk, is safe.
    void flush(bool sync);

    // Whether a flush failed in a way that forbids any further one.
    [[nodiscard]] bool failed() const { return !_failure.empty(); }

    // Records in the file plus records buffered.
    [[nodiscard]] std::size_t records() const { return _records + _buffer_records; }
    // Bytes of the file (its valid part) plus bytes buffered.
    [[nodiscard]] std::uint64_t bytes() const { return _size + _buffer.size(); }

  private:
    change_log(std::filesystem::path path, unique_fd fd, position base, std::uint64_t size, std::size_t records);

    std::filesystem::path _path;
    unique_fd _fd;
    position _base;
    std::uint64_t _size = 0;   // bytes of the file, all of them valid records (after read_back + keep_valid)
    std::size_t _records = 0;  // records in the file
    std::string _buffer;       // encoded records not yet written
    std::size_t _buffer_records = 0;
    std::string _failure;  // once set, every flush throws it
    bool _writable = false;  // where the valid records end is known: appends may go there
};

}  // namespace starbus
