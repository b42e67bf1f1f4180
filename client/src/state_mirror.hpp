// File: state_mirror.hpp
// A client's local copy of the replicated state, kept in step with the server:
//   1. sync: snapshot_request{from = local position}; the server answers with
//      snapshot_part* + snapshot_end{is_delta=false} (full: replaces the local
//      state) or change_batch* + snapshot_end{is_delta=true} (delta: the
//      changes after the local position);
//   2. then the committed changes the server publishes ("K" frames, each an
//      encoded change_batch) are applied in seq order; changes at or below the
//      local position are skipped; a batch starting beyond last+1 is a gap and
//      asks for a new sync. "K" frames arriving during a sync are held and
//      applied after it.
// Also used, from an empty state, to collect one broker's dump.
// Pure: no sockets, no clock. A building block of starbus::client, public so
// that it can be tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include <starbus/state/kv_state.hpp>
#include <starbus/wire/messages.hpp>

namespace starbus::client_detail {

class state_mirror {
  public:
    // What a reply or a published batch did.
    enum class outcome : std::uint8_t {
        ignored,      // not for the sync in flight (stale request_id, or no sync in flight)
        in_progress,  // part of the sync in flight; more to come
        completed,    // the sync is complete: the local state is the server's at snapshot_end
        applied,      // a published batch was applied (possibly partly skipped as already held)
        held,         // a published batch arrived during a sync: applied after it
        gap,          // changes are missing: a new sync is wanted
    };

    // At most this many published batches are held during a sync; beyond it the
    // oldest are dropped (a gap after the sync then asks for another).
    explicit state_mirror(std::size_t max_held_batches = 100000);

    [[nodiscard]] const kv_state& state() const { return _state; }
    [[nodiscard]] position last() const { return _state.last(); }

    // ---- sync lifecycle ----
    // A sync should be started as soon as a server is known (server changed,
    // or a gap). Starts true: a new mirror has never synced.
    [[nodiscard]] bool sync_wanted() const { return _wanted; }
    [[nodiscard]] bool sync_in_flight() const { return _in_flight; }
    [[nodiscard]] bool synchronised() const { return _synced && !_wanted && !_in_flight; }
    [[nodiscard]] std::uint64_t sync_request_id() const { return _request_id; }
    void want_sync() { _wanted = true; }

    // Starts a sync: the request to send. After a failed delta the local state
    // is dropped and the sync starts from nothing.
    [[nodiscard]] snapshot_request start_sync(std::uint64_t request_id, bool require_serving);
    // The connection carrying the sync in flight is gone: a new sync is wanted.
    void abandon_sync();
    // Another broker serves now: besides abandon_sync(), drop the published
    // batches held from the old server (they may be a tail the new one never had).
    void new_server();

    // ---- replies to the sync request (on the request socket) ----
    outcome on_part(const snapshot_part& m);
    // Delta batches carry the SNAPSHOT's request_id (0 from an older broker: then the sync in flight's).
    outcome on_delta(const change_batch& m);
    outcome on_end(const snapshot_end& m);
    // Whether the last completed sync was a full snapshot.
    [[nodiscard]] bool last_sync_full() const { return _last_full; }

    // ---- committed changes published by the server ("K" frames) ----
    outcome on_published(const change_batch& m);

    // The server's last committed seq, from a pong. Returns true when the
    // mirror has stayed behind a seq the server reported one report earlier
    // (the session asks again a ping interval later, half of one after a sync):
    // published changes were lost (e.g. the subscription was not yet active
    // when the snapshot was taken), so a sync is wanted (and want_sync() is
    // called).
    bool note_server_seq(std::uint64_t committed_seq);
    // A report showed the server ahead of the mirror, and the next one will tell whether the gap was lost.
    [[nodiscard]] bool behind_server() const { return _behind_mark != 0; }

  private:
    outcome apply_published(const change_batch& m);

    kv_state _state;
    bool _wanted = true;
    bool _in_flight = false;
    bool _synced = false;
    bool _last_full = false;
    bool _delta_failed = false;     // the delta in flight had a gap: ignore its end, resync
    bool _start_empty = false;      // the next sync starts from an empty state
    std::uint64_t _request_id = 0;
    std::vector<change> _parts;     // entries of the full snapshot in flight
    std::size_t _max_held;
    std::deque<change_batch> _held; // published during the sync in flight
    std::uint64_t _behind_mark = 0; // a committed seq reported earlier that we did not hold yet
};

}  // namespace starbus::client_detail
