// File: kv_state.hpp
// The replicated state, held by every broker and by every client that mirrors
// the server: the current key/value entries, the manifest of the file store
// (file changes travel in the same ordered log as keys), the position of the
// last applied change, and the recent applied requests (so that a retried
// request is answered again instead of applied twice, on whichever broker
// serves).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <starbus/files/file_manifest.hpp>
#include <starbus/state/request_memory.hpp>
#include <starbus/wire/vocabulary.hpp>

namespace starbus {

// How many bus messages a state keeps (the bus log): the newest, within all
// three bounds. Deterministic: every replica applies the same changes, and
// age is measured between messages (the newest one's time), not on a clock.
struct bus_retention {
    std::size_t max_messages = 0;      // 0: keep none (a client's mirror)
    std::uint64_t max_bytes = 0;       // topic + payload bytes of the kept messages
    std::uint64_t max_age_ms = 0;      // older than the newest message by more than this: dropped (0: no limit)
};

class kv_state {
  public:
    // Applies the next change. Returns false, changing nothing, when c.seq is
    // not last().seq + 1: the caller has missed something and must resync.
    [[nodiscard]] bool apply(const change& c);

    // Replaces everything with a snapshot taken at `at`: `entries` holds the
    // current keys (op put) and files (op file_put), as snapshot_entries() gives them.
    // `bus_dropped_through`: the sender's bus_dropped_through(), so that a gap is still reported;
    // `epochs`: the sender's epochs() (without them, the snapshot's position starts the history).
    void install_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests,
                          std::uint64_t bus_dropped_through = 0, const std::vector<epoch_span>& epochs = {});

    void clear();

    [[nodiscard]] position last() const { return _last; }
    [[nodiscard]] const std::map<std::string, change, std::less<>>& entries() const { return _entries; }
    [[nodiscard]] const change* find(std::string_view key) const;
    // The file store's manifest: every file and its current version.
    [[nodiscard]] const file_manifest& files() const { return _files; }
    // The bus log: the newest publish changes, oldest first, within the retention.
    void set_bus_retention(const bus_retention& r);
    [[nodiscard]] const std::deque<change>& bus_log() const { return _bus; }
    // The seq of the newest bus message dropped for retention (0: none yet):
    // a subscriber behind it missed messages (a gap).
    [[nodiscard]] std::uint64_t bus_dropped_through() const { return _bus_dropped_through; }

    // The epochs of this history (the newest 1024 at most), oldest first: an
    // epoch has one author, so a position (e, s) belongs to this history when
    // s lies in e's stretch, and two histories part where one's stretch of an
    // epoch ends. Unlike the recent-changes window, this survives snapshots.
    [[nodiscard]] std::vector<epoch_span> epochs() const;
    // The last seq of epoch `e` in this history, if it has that epoch.
    [[nodiscard]] std::optional<std::uint64_t> last_seq_of(std::uint64_t e) const;
    // Whether position `p` is one of this history's (or its start, (0, 0)).
    [[nodiscard]] bool holds(position p) const;
    // Where another history, described by `theirs`, parts from this one: the
    // highest seq up to which both hold the same changes; nothing when they
    // share no epoch this state still knows.
    [[nodiscard]] std::optional<std::uint64_t> fork_with(const std::vector<epoch_span>& theirs) const;
    // Everything a full snapshot carries, keys first (in key order), then files
    // (in path order, as file_put changes), then, with `bus`, the bus log.
    [[nodiscard]] std::vector<change> snapshot_entries(bool bus = true) const;
    [[nodiscard]] std::optional<request_record> find_request(std::uint64_t client_id, std::uint64_t request_id) const;
    // Oldest first, at most limits::remembered_requests.
    [[nodiscard]] std::vector<request_record> requests() const { return _requests.all(); }

  private:
    void retain(const change& publish);
    void trim_bus();

    std::map<std::string, change, std::less<>> _entries;  // key -> the put that wrote its value
    file_manifest _files;
    bus_retention _retention;
    std::deque<change> _bus;               // publish changes kept, seq order
    std::uint64_t _bus_bytes = 0;
    std::uint64_t _bus_dropped_through = 0;
    std::map<std::uint64_t, std::uint64_t> _epoch_starts;  // epoch -> its first seq in this history
    position _last;
    request_memory _requests;
};

}  // namespace starbus
