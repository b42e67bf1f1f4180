// File: state_mirror.cpp
// Snapshot, delta and published-change application for a client's local
// state (state_mirror.hpp).
#include "state_mirror.hpp"

namespace starbus::client_detail {

state_mirror::state_mirror(std::size_t max_held_batches) : _max_held(max_held_batches) {}

snapshot_request state_mirror::start_sync(std::uint64_t request_id, bool require_serving) {
    // A delta that did not line up means our history and the server's differ
    // in a way the server did not detect: start from nothing (full snapshot).
    if (_start_empty) {
        _state.clear();
        _start_empty = false;
    }
    _in_flight = true;
    _wanted = false;
    _delta_failed = false;
    _request_id = request_id;
    _parts.clear();
    snapshot_request r;
    r.request_id = request_id;
    r.from_epoch = _state.last().epoch;
    r.from_seq = _state.last().seq;
    r.require_serving = require_serving;
    return r;
}

void state_mirror::abandon_sync() {
    if (_in_flight) _wanted = true;
    _in_flight = false;
    _delta_failed = false;
    _parts.clear();
}

void state_mirror::new_server() {
    abandon_sync();
    _wanted = true;
    _held.clear();
    _behind_mark = 0;
}

state_mirror::outcome state_mirror::on_part(const snapshot_part& m) {
    if (!_in_flight || m.request_id != _request_id) return outcome::ignored;
    _parts.insert(_parts.end(), m.entries.begin(), m.entries.end());
    return outcome::in_progress;
}

state_mirror::outcome state_mirror::on_delta(const change_batch& m) {
    if (!_in_flight) return outcome::ignored;
    // The rest of a delta whose SNAPSHOT was abandoned (same connection, the broker back at a new epoch) must
    // not land in the new sync. 0: a broker that predates the field, whose request-port CHANGES are only ever
    // the delta in flight.
    if (m.request_id != 0 && m.request_id != _request_id) return outcome::ignored;
    if (_delta_failed) return outcome::in_progress;  // wait for the end, then resync
    for (const auto& c : m.changes) {
        if (c.seq <= _state.last().seq) continue;  // already held
        if (!_state.apply(c)) {
            _delta_failed = true;
            break;
        }
    }
    return outcome::in_progress;
}

state_mirror::outcome state_mirror::on_end(const snapshot_end& m) {
    if (!_in_flight || m.request_id != _request_id) return outcome::ignored;
    _in_flight = false;
    if (!m.is_delta) {
        _state.install_snapshot(std::move(_parts), position{m.epoch, m.seq}, m.requests);
        _parts.clear();
        _last_full = true;
    } else {
        // The delta must bring us exactly to the server's position; seq is
        // what identifies it (the epoch in the end message may be the
        // server's current epoch rather than its last change's).
        if (_delta_failed || _state.last().seq != m.seq) {
            _delta_failed = false;
            _start_empty = true;
            _wanted = true;
            _held.clear();
            return outcome::gap;
        }
        _last_full = false;
    }
    _synced = true;
    _behind_mark = 0;
    // What the server published while the sync was in flight.
    while (!_held.empty()) {
        change_batch b = std::move(_held.front());
        _held.pop_front();
        if (apply_published(b) == outcome::gap) return outcome::gap;
    }
    return outcome::completed;
}

state_mirror::outcome state_mirror::on_published(const change_batch& m) {
    if (_in_flight || _wanted || !_synced) {
        if (_held.size() >= _max_held) _held.pop_front();  // a gap later asks for another sync
        _held.push_back(m);
        return outcome::held;
    }
    return apply_published(m);
}

state_mirror::outcome state_mirror::apply_published(const change_batch& m) {
    for (const auto& c : m.changes) {
        if (c.seq <= _state.last().seq) continue;  // held already (snapshot or earlier batch)
        if (!_state.apply(c)) {
            // Beyond last+1: something was lost on the way; resync, and hold
            // what follows until then.
            _wanted = true;
            _held.clear();
            return outcome::gap;
        }
    }
    return outcome::applied;
}

bool state_mirror::note_server_seq(std::uint64_t committed_seq) {
    if (!synchronised() || committed_seq <= _state.last().seq) {
        _behind_mark = 0;
        return false;
    }
    // Behind from one report to the next (a ping interval apart, or half of
    // one just after a sync): the published changes that should have closed
    // the gap are not coming.
    if (_behind_mark != 0 && _state.last().seq < _behind_mark) {
        _behind_mark = 0;
        _wanted = true;
        return true;
    }
    _behind_mark = committed_seq;
    return false;
}

}  // namespace starbus::client_detail
