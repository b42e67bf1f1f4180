// File: kv_state.cpp
#include <starbus/state/kv_state.hpp>

namespace starbus {

bool kv_state::apply(const change& c) {
    if (c.seq != _last.seq + 1) return false;
    if (_epoch_starts.empty() || _epoch_starts.rbegin()->first < c.epoch) {
        _epoch_starts[c.epoch] = c.seq;
        if (_epoch_starts.size() > limits::max_epoch_spans) _epoch_starts.erase(_epoch_starts.begin());
    }
    switch (c.op) {
        case change_op::put: {
            auto it = _entries.find(c.key);
            if (it == _entries.end()) _entries.emplace(c.key, c);
            else it->second = c;
            break;
        }
        case change_op::erase: {
            auto it = _entries.find(c.key);
            if (it != _entries.end()) _entries.erase(it);
            break;
        }
        case change_op::file_put:
            // Decoders validate the value before a change gets here; a malformed one still takes its place in
            // the sequence (the position must advance) but installs nothing.
            if (auto e = file_entry_of(c)) _files.put(std::move(*e));
            break;
        case change_op::file_erase: _files.remove(c.key); break;
        case change_op::publish: retain(c); break;
    }
    _last = c.pos();
    if (c.client_id != 0) _requests.remember({c.client_id, c.request_id, c.epoch, c.seq});
    return true;
}

void kv_state::install_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests,
                                std::uint64_t bus_dropped_through, const std::vector<epoch_span>& epochs) {
    clear();
    _bus_dropped_through = bus_dropped_through;
    for (const auto& e : epochs)
        if (e.first_seq <= at.seq) _epoch_starts[e.epoch] = e.first_seq;
    if (at.seq > 0 && !_epoch_starts.contains(at.epoch) &&
        (_epoch_starts.empty() || _epoch_starts.rbegin()->first < at.epoch))
        _epoch_starts[at.epoch] = at.seq;
    while (_epoch_starts.size() > limits::max_epoch_spans) _epoch_starts.erase(_epoch_starts.begin());
    for (auto& e : entries) {
        if (e.op == change_op::file_put) {
            if (auto f = file_entry_of(e)) _files.put(std::move(*f));
            continue;
        }
        if (e.op == change_op::publish) {
            retain(e);
            continue;
        }
        if (e.op != change_op::put) continue;  // a snapshot holds current entries only
        std::string key = e.key;
        _entries.insert_or_assign(std::move(key), std::move(e));
    }
    _last = at;
    for (const auto& r : requests) _requests.remember(r);
}

std::vector<change> kv_state::snapshot_entries(bool bus) const {
    std::vector<change> out;
    out.reserve(_entries.size() + _files.size() + (bus ? _bus.size() : 0));
    for (const auto& [key, c] : _entries) out.push_back(c);
    for (const auto& [path, f] : _files) out.push_back(file_put_change(f));
    if (bus) out.insert(out.end(), _bus.begin(), _bus.end());
    return out;
}

void kv_state::set_bus_retention(const bus_retention& r) {
    _retention = r;
    trim_bus();
}

void kv_state::retain(const change& publish) {
    if (_retention.max_messages == 0) return;
    if (_bus.size() >= _retention.max_messages) {
        // Full by count: the oldest message goes now, and its strings take the new one's bytes (no allocation
        // per message on a busy bus).
        change recycled = std::move(_bus.front());
        _bus_bytes -= recycled.key.size() + recycled.value.size();
        _bus_dropped_through = std::max(_bus_dropped_through, recycled.seq);
        _bus.pop_front();
        recycled = publish;
        _bus.push_back(std::move(recycled));
    } else {
        _bus.push_back(publish);
    }
    _bus_bytes += publish.key.size() + publish.value.size();
    trim_bus();
}

void kv_state::trim_bus() {
    const auto too_old = [&](const change& c) {
        return _retention.max_age_ms > 0 && !_bus.empty() && _bus.back().time_ms > c.time_ms + _retention.max_age_ms;
    };
    while (!_bus.empty() && (_bus.size() > _retention.max_messages ||
                             (_retention.max_bytes > 0 && _bus_bytes > _retention.max_bytes) || too_old(_bus.front()))) {
        _bus_bytes -= _bus.front().key.size() + _bus.front().value.size();
        _bus_dropped_through = std::max(_bus_dropped_through, _bus.front().seq);
        _bus.pop_front();
    }
}

std::vector<epoch_span> kv_state::epochs() const {
    std::vector<epoch_span> out;
    for (auto it = _epoch_starts.begin(); it != _epoch_starts.end(); ++it) {
        const auto next = std::next(it);
        out.push_back({it->first, it->second, next == _epoch_starts.end() ? _last.seq : next->second - 1});
    }
    return out;
}

std::optional<std::uint64_t> kv_state::last_seq_of(std::uint64_t e) const {
    auto it = _epoch_starts.find(e);
    if (it == _epoch_starts.end()) return std::nullopt;
    const auto next = std::next(it);
    return next == _epoch_starts.end() ? _last.seq : next->second - 1;
}

bool kv_state::holds(position p) const {
    if (p.seq == 0) return true;
    auto it = _epoch_starts.find(p.epoch);
    if (it == _epoch_starts.end() || p.seq < it->second) return false;
    return p.seq <= *last_seq_of(p.epoch);
}

std::optional<std::uint64_t> kv_state::fork_with(const std::vector<epoch_span>& theirs) const {
    for (auto it = theirs.rbegin(); it != theirs.rend(); ++it)
        if (auto mine = last_seq_of(it->epoch)) return std::min(it->last_seq, *mine);
    return std::nullopt;
}

void kv_state::clear() {
    _entries.clear();
    _epoch_starts.clear();
    _files = {};
    _bus.clear();
    _bus_bytes = 0;
    _bus_dropped_through = 0;
    _last = {};
    _requests.clear();
}

const change* kv_state::find(std::string_view key) const {
    auto it = _entries.find(key);
    return it == _entries.end() ? nullptr : &it->second;
}

std::optional<request_record> kv_state::find_request(std::uint64_t client_id, std::uint64_t request_id) const {
    return _requests.find(client_id, request_id);
}

}  // namespace starbus
