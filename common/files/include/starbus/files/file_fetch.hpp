// File: file_fetch.hpp
// The receiving side of file transfers (docs/protocol.md "File transfer"), used
// by replicas fetching content from their server, by clients downloading and
// mirroring, and by the server receiving an upload: a queue of file versions
// to receive, each into a temporary file, with the credit-based flow control
// of 35/FILEMQ. The receiver drives: it asks for chunks (path, version,
// offset, length) and keeps at most `credit_bytes` asked for and not yet
// received, over every file it fetches at once, so a sender sends only what
// was asked and memory never grows with file size.
//
// Each chunk's XXH3-64 is checked as it arrives (a damaged chunk is asked for
// again on its own); each file's XXH3-128, and SHA-256 when asked to, are
// computed over the contiguous prefix as it grows and checked at the end (a
// mismatch refetches the whole version, and after a few attempts gives up:
// a wrong file is never handed over). After a reconnection (restart()),
// every file resumes at the end of the prefix it holds, not at zero.
//
// No sockets and no clock: the caller sends the orders and feeds the chunks.
// It does the file I/O on its temporary files (pwrite per chunk); making a
// finished file durable and visible is file_install.hpp's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <starbus/wire/codec.hpp>
#include <starbus/files/file_manifest.hpp>
#include <starbus/files/unique_fd.hpp>

namespace starbus {

struct fetch_settings {
    std::uint64_t chunk_bytes = 256 * 1024;      // bytes per request (the last chunk of a file may be shorter)
    std::uint64_t credit_bytes = 2 * 1024 * 1024;  // bytes asked for and not yet received, over all files
    bool verify_sha256 = true;                   // also check SHA-256 (else XXH3-128 only)
    std::size_t max_open_files = 256;            // files received at once (their temporary files are open)
    int max_attempts = 3;                        // whole-file mismatches before a version is given up
    int max_corrupt_chunks = 32;                 // damaged chunks of one file before it is given up
};

// A request the queue wants sent, with the caller's label of its file.
struct fetch_order {
    fetch_request request;
    std::uint64_t tag = 0;
};

// A version received whole and verified, in its temporary file: written but
// not yet synced. The caller makes it durable and gives it its final name.
struct fetched_file {
    file_entry entry;
    std::uint64_t tag = 0;
    std::filesystem::path temp_path;
    unique_fd fd;  // open for writing: fsync it before the rename
};

// A version the queue gave up; its temporary file is already deleted.
struct fetch_failure {
    file_entry entry;
    std::uint64_t tag = 0;
    std::string reason;  // what happened and what to do next
    bool stale = false;  // the sender no longer holds this version (STALE_VERSION)
    // The whole content arrived (every chunk checksum matched) and still differed from the entry's digests,
    // max_attempts times: the sender's copy, or the digests it was listed with, are wrong.
    bool content_mismatch = false;
};

// What one CHUNK did.
enum class chunk_outcome : std::uint8_t {
    accepted,      // written (and counted towards its file)
    unexpected,    // not a request in flight (late, duplicate, or for another version): dropped
    corrupt,       // its checksum did not match: dropped and asked for again
    failed,        // writing it failed: the file was given up (take_failed says why)
};

class fetch_queue {
  public:
    // `next_request_id` names each FETCH (the sender echoes it in the CHUNK).
    // Throws std::invalid_argument for a chunk or credit of 0 (configuration errors).
    fetch_queue(fetch_settings settings, std::function<std::uint64_t()> next_request_id);
    ~fetch_queue();
    fetch_queue(fetch_queue&&) noexcept;
    fetch_queue& operator=(fetch_queue&&) noexcept;
    fetch_queue(const fetch_queue&) = delete;
    fetch_queue& operator=(const fetch_queue&) = delete;

    // Queues version `e` to be received into `temp_path` (created or truncated
    // when its turn comes). A fetch already known under `tag` is cancelled first.
    void add(const file_entry& e, std::filesystem::path temp_path, std::uint64_t tag);
    // Stops fetching `tag` and deletes its temporary file. False when unknown.
    bool cancel(std::uint64_t tag);
    // Cancels everything.
    void clear();
    [[nodiscard]] bool contains(std::uint64_t tag) const;
    // The version queued under `tag`, or nullptr.
    [[nodiscard]] const file_entry* entry(std::uint64_t tag) const;

    // The next request to send, when there is one and the credit allows it.
    [[nodiscard]] std::optional<fetch_order> next_order();
    // A CHUNK arrived; its view is used only during the call.
    chunk_outcome on_chunk(const file_chunk_view& c);
    // The sender answered request `request_id` with STALE_VERSION: that
    // version is given up (take_failed() reports it with stale set). Returns
    // its tag, or nothing when the request is not in flight.
    std::optional<std::uint64_t> on_stale(std::uint64_t request_id);
    // The connection was replaced (or the sender changed): every request in
    // flight is forgotten and every file resumes at the end of its prefix.
    void restart();

    [[nodiscard]] std::vector<fetched_file> take_completed();
    [[nodiscard]] std::vector<fetch_failure> take_failed();
    [[nodiscard]] bool has_results() const { return !_completed.empty() || !_failed.empty(); }

    // Files queued or being received (not yet completed or failed).
    [[nodiscard]] std::size_t pending_files() const { return _jobs.size(); }
    // Bytes of those files not yet received.
    [[nodiscard]] std::uint64_t pending_bytes() const { return _pending_bytes; }
    // Bytes accepted since construction (progress; restarts may count a chunk twice).
    [[nodiscard]] std::uint64_t received_bytes() const { return _received_bytes; }
    [[nodiscard]] std::size_t requests_in_flight() const { return _in_flight.size(); }
    [[nodiscard]] std::uint64_t bytes_in_flight() const { return _credit_used; }
    [[nodiscard]] bool idle() const { return _jobs.empty(); }
    // The resume point of `tag`: every byte before it is received and checked.
    [[nodiscard]] std::optional<std::uint64_t> reached(std::uint64_t tag) const;
    [[nodiscard]] const fetch_settings& settings() const { return _settings; }

  private:
    struct job;
    struct flight {
        std::uint64_t tag = 0;
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
    };

    [[nodiscard]] job* find(std::uint64_t tag);
    bool open(job& j);
    void fail(job& j, std::string reason, bool stale = false);
    void finish_if_done(job& j);
    void start_over(job& j);
    void drop_flights_of(std::uint64_t tag);
    void forget(std::uint64_t tag);
    bool hash_from_disk(job& j, std::uint64_t from, std::uint64_t to);

    fetch_settings _settings;
    std::function<std::uint64_t()> _next_request_id;
    std::unordered_map<std::uint64_t, std::unique_ptr<job>> _jobs;  // by tag
    std::deque<std::uint64_t> _waiting;    // tags not yet opened, first come first served
    std::deque<std::uint64_t> _askable;    // opened tags that still have bytes to ask for
    std::size_t _open = 0;                 // jobs with an open temporary file
    std::unordered_map<std::uint64_t, flight> _in_flight;  // by request id
    std::uint64_t _credit_used = 0;
    std::uint64_t _pending_bytes = 0;
    std::uint64_t _received_bytes = 0;
    std::vector<fetched_file> _completed;
    std::vector<fetch_failure> _failed;
};

}  // namespace starbus
