// File: chunk_plan.hpp
// The receiver's side of a chunked file transfer, without sockets (file_fetch.hpp builds on it):
// which (offset, length) to ask for next, and how many requests may be in
// flight (credit, in the manner of 35/FILEMQ). The credit window also keeps the
// resume point: the end of the longest prefix of the file received so far, from
// which a receiver restarts after a failover instead of from zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace starbus {

// One request for the bytes [offset, offset + length) of a file version.
struct chunk_request {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;

    friend bool operator==(const chunk_request&, const chunk_request&) = default;
};

// The requests that cover [start_offset, file_size) in order, each chunk_size
// long except the last, with no gap and no overlap. A start beyond the end of
// the file is treated as the end (an empty plan): the resume point of a version
// that turned out shorter. A zero-length file needs no request.
class chunk_plan {
  public:
    // Throws std::invalid_argument when chunk_size is 0 (a configuration error).
    chunk_plan(std::uint64_t file_size, std::uint64_t chunk_size, std::uint64_t start_offset = 0);

    // The next request, or nothing once the plan is exhausted.
    [[nodiscard]] std::optional<chunk_request> next();

    [[nodiscard]] bool done() const { return _next >= _file_size; }
    // Where the next request will start.
    [[nodiscard]] std::uint64_t next_offset() const { return _next; }
    [[nodiscard]] std::uint64_t remaining_bytes() const { return _file_size - _next; }
    [[nodiscard]] std::uint64_t file_size() const { return _file_size; }
    [[nodiscard]] std::uint64_t chunk_size() const { return _chunk_size; }

  private:
    std::uint64_t _file_size;
    std::uint64_t _chunk_size;
    std::uint64_t _next;  // offset of the next request
};

// Credit-based flow control of one transfer: at most `credit` requests in
// flight; chunks may arrive in any order; each requested chunk is accepted once.
//
//   credit_window w(size, chunk, credit, resume_at);
//   while (w.can_request()) send(*w.next_request());
//   on a CHUNK: if (w.on_chunk(off, len)) { write it; refill credit } else drop it
//   on failover: w.restart_from(w.reached()); then refill credit from the new server
class credit_window {
  public:
    // Throws std::invalid_argument when chunk_size or credit is 0 (configuration errors).
    credit_window(std::uint64_t file_size, std::uint64_t chunk_size, std::size_t credit,
                  std::uint64_t start_offset = 0);

    // True when a request may be sent now: credit left and bytes not yet requested.
    [[nodiscard]] bool can_request() const;
    // Takes the next request of the plan and counts it in flight; nothing when
    // can_request() is false.
    [[nodiscard]] std::optional<chunk_request> next_request();

    // Accounts for one received chunk. True when it is exactly a request in
    // flight (same offset and length): the caller writes it. False for a chunk
    // never asked for, asked for with another length, or already received (a
    // duplicate): the caller drops it and writes nothing.
    [[nodiscard]] bool on_chunk(std::uint64_t offset, std::uint64_t length);

    // The resume point: every byte before it has been received (chunks that
    // arrived out of order beyond a gap do not count yet).
    [[nodiscard]] std::uint64_t reached() const { return _reached; }
    // Every byte of the file received, nothing in flight.
    [[nodiscard]] bool done() const { return _reached >= _plan.file_size() && _in_flight.empty(); }
    [[nodiscard]] std::size_t in_flight() const { return _in_flight.size(); }
    [[nodiscard]] std::size_t credit() const { return _credit; }
    [[nodiscard]] std::uint64_t file_size() const { return _plan.file_size(); }

    // After a failover: forgets every request in flight (the old server will not
    // answer them) and chunks received beyond the resume point, and plans again
    // from `offset`, clamped to reached() (bytes not known to be written are
    // never skipped). restart_from(reached()) is the usual call; restart_from(0)
    // starts over.
    void restart_from(std::uint64_t offset);

  private:
    void advance();

    chunk_plan _plan;
    std::size_t _credit;
    std::map<std::uint64_t, std::uint64_t> _in_flight;  // offset -> expected length
    std::map<std::uint64_t, std::uint64_t> _ahead;      // received beyond a gap: offset -> length
    std::uint64_t _reached;
};

}  // namespace starbus
