// File: local_replica.cpp
#include "local_replica.hpp"

#include <spdlog/spdlog.h>

namespace starbus {

local_replica::local_replica(const std::filesystem::path& dir, fsync_mode mode, std::size_t history_capacity,
                             const bus_retention& bus)
    : _store(dir, mode), _history(history_capacity) {
    durable_store::recovered r = _store.recover(bus);
    _state = std::move(r.state);
    _history.reset(r.snapshot_position);
    for (const auto& c : r.tail) _history.append(c);
    _epoch = std::max(r.epoch, _state.last().epoch);
    _flushed_seq = _state.last().seq;
    if (r.torn_bytes > 0)
        spdlog::warn("recovery cut {} bytes of a torn or corrupt tail off the change log in {}", r.torn_bytes,
                     dir.string());
    spdlog::info("recovered {} keys and {} files up to position ({}, {}) from {}; epoch {}", _state.entries().size(),
                 _state.files().size(), _state.last().epoch, _state.last().seq, dir.string(), _epoch);
}

void local_replica::set_epoch(std::uint64_t e) {
    if (e == _epoch) return;
    _store.save_epoch(e);
    _epoch = e;
}

bool local_replica::apply(const change& c) {
    std::string replaced;
    if (is_file_op(c.op))
        if (const file_entry* old = _state.files().find(c.key)) replaced = old->hash;
    if (!_state.apply(c)) return false;
    if (!replaced.empty()) _released.push_back(std::move(replaced));
    _history.append(c);
    _store.append(c);
    _dirty = true;
    return true;
}

void local_replica::install(std::vector<change> entries, position at, std::vector<request_record> requests,
                            std::uint64_t bus_dropped_through, const std::vector<epoch_span>& epochs) {
    for (const auto& [path, e] : _state.files()) _released.push_back(e.hash);
    _state.install_snapshot(std::move(entries), at, std::move(requests), bus_dropped_through, epochs);
    _store.install_snapshot(_state);
    _history.reset(at);
    _flushed_seq = at.seq;
    _dirty = false;
    if (at.epoch > _epoch) set_epoch(at.epoch);
}

void local_replica::flush() {
    if (!_dirty) return;
    _store.flush();
    _store.compact_in_background(_state);  // a child writes the snapshot: the reactor goes on
    _flushed_seq = _state.last().seq;
    _dirty = false;
}

}  // namespace starbus

namespace starbus {

std::vector<std::string> local_replica::take_released() {
    std::vector<std::string> out;
    out.swap(_released);
    return out;
}

}  // namespace starbus
