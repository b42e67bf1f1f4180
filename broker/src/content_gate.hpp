// File: content_gate.hpp
// A replica's rule for files: a change that installs a file version is
// applied only once that version's content is in the local store, so the
// replicated state a broker holds (and acknowledges, and may serve from after
// a failover) never lists a file it cannot hand out.
//
// Changes received from the server wait here, in order, behind the first one
// whose content is missing; a full snapshot waits here too until the content
// of every file it lists is present. Meanwhile the gate fetches, from the
// server, only the versions that will be current once everything received is
// applied: a version already replaced or removed by a later change that has
// arrived is never fetched (the server may have deleted it). The longest
// prefix of the waiting changes after which no current file lacks content is
// applied at once, so an intermediate state that would reference missing
// content is never visible.
//
// The gate owns the fetch_queue of those versions; the broker moves the
// FETCH orders to the server, the chunks back in, and the finished files
// through the installer into the file_store.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <starbus/files/file_fetch.hpp>

#include "file_store.hpp"
#include "local_replica.hpp"

namespace starbus {

class content_gate {
  public:
    content_gate(file_store& store, fetch_settings settings, std::function<std::uint64_t()> next_request_id);

    // A full snapshot arrived: it replaces whatever was waiting.
    void set_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests,
                      std::uint64_t bus_dropped_through = 0, std::vector<epoch_span> epochs = {});
    // The next change from the server. False (nothing queued) when it does not
    // follow the last change received: a gap.
    [[nodiscard]] bool add(const change& c, position applied);
    // The position of the last change received (waiting or applied).
    [[nodiscard]] position last_received(position applied) const;
    // Local entries whose content is missing (a damaged store found at start-up):
    // fetched like the others unless a change replaces them.
    void note_missing(const std::vector<file_entry>& entries);

    // Applies to `replica` everything that may be applied now and decides what
    // to fetch. Returns whether it applied anything.
    bool pump(local_replica& replica, std::chrono::steady_clock::time_point now);

    // ---- the transfer (between the broker's sockets and the fetch queue) ----
    [[nodiscard]] std::optional<fetch_order> next_order() { return _fetch.next_order(); }
    chunk_outcome on_chunk(const file_chunk_view& c) { return _fetch.on_chunk(c); }
    // An ERROR answered one of our FETCHes (true) or is not about them (false).
    bool on_error(std::uint64_t request_id, error_code code, const std::string& text,
                  std::chrono::steady_clock::time_point now);
    // New session (maybe a new server): requests in flight are gone; partly
    // received files resume where they stopped (content does not depend on who sends it).
    void restart() { _fetch.restart(); }
    // Files received and verified, to install into the store.
    [[nodiscard]] std::vector<fetched_file> take_fetched();
    // One of them is now in the store (or failed to install): pump again.
    void installed(const std::string& hash, bool ok, const std::string& error,
                   std::chrono::steady_clock::time_point now);
    // A new replication session: the changes waiting came from the old one
    // (whose history may differ) and are dropped; partly received files are
    // kept and resume, since a version's bytes do not depend on who sends them.
    void new_session();
    // Forgets everything waiting and every transfer (the broker serves now).
    void clear();

    // ---- what is left to do (status `pending`) ----
    [[nodiscard]] std::size_t waiting_changes() const { return _queue.size(); }
    [[nodiscard]] bool snapshot_waiting() const { return _snapshot.has_value(); }
    [[nodiscard]] std::size_t pending_files() const { return _fetch.pending_files() + _installing.size(); }
    [[nodiscard]] std::uint64_t pending_bytes() const { return _fetch.pending_bytes(); }
    // File bytes received since the start (grows while a transfer moves).
    [[nodiscard]] std::uint64_t received_bytes() const { return _fetch.received_bytes(); }
    [[nodiscard]] bool idle() const { return _queue.empty() && !_snapshot && _fetch.idle() && _installing.empty(); }
    // Why the gate is stuck, if it is (a store that refuses writes, a version the server lacks).
    [[nodiscard]] const std::string& trouble() const { return _trouble; }
    // Hashes of every version the waiting changes or snapshot install: not to be deleted.
    [[nodiscard]] std::vector<std::string> referenced_hashes() const;

  private:
    struct waiting_snapshot {
        std::vector<change> entries;
        position at;
        std::vector<request_record> requests;
        std::uint64_t bus_dropped_through = 0;
        std::vector<epoch_span> epochs;
    };
    // The content a change or snapshot entry installs, if it installs one.
    struct wanted_version {
        std::string path;
        file_entry entry;
    };

    void want(const std::map<std::string, file_entry>& wanted, std::chrono::steady_clock::time_point now);
    // Failed fetches wait before they are asked again (a stale version briefly, a failure longer).
    void note_failed_fetches(std::chrono::steady_clock::time_point now);
    // Installs the waiting snapshot, if any, and applies the first `applicable` waiting changes.
    [[nodiscard]] bool apply_prefix(local_replica& replica, std::size_t applicable);

    file_store& _store;
    fetch_queue _fetch;
    std::optional<waiting_snapshot> _snapshot;
    std::deque<change> _queue;                       // received, not applied; consecutive seqs
    std::set<std::string> _damaged;                  // applied paths whose content is missing
    std::unordered_map<std::string, std::uint64_t> _tags;  // hash being fetched -> its fetch tag
    std::uint64_t _last_tag = 0;
    std::set<std::string> _installing;               // fetched, in the installer
    // Versions the server said it does not hold, and when to ask again.
    std::map<std::string, std::chrono::steady_clock::time_point> _retry_at;
    std::string _trouble;
};

}  // namespace starbus
