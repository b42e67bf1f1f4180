// File: kv_state.cpp
#include <starbus/common/kv_state.hpp>

namespace starbus {

bool kv_state::apply(const change& c) {
    if (c.seq != _last.seq + 1) return false;
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
    }
    _last = c.pos();
    if (c.client_id != 0) remember({c.client_id, c.request_id, c.epoch, c.seq});
    return true;
}

void kv_state::install_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests) {
    clear();
    for (auto& e : entries) {
        if (e.op == change_op::file_put) {
            if (auto f = file_entry_of(e)) _files.put(std::move(*f));
            continue;
        }
        if (e.op != change_op::put) continue;  // a snapshot holds current entries only
        std::string key = e.key;
        _entries.insert_or_assign(std::move(key), std::move(e));
    }
    _last = at;
    for (const auto& r : requests) remember(r);
}

std::vector<change> kv_state::snapshot_entries() const {
    std::vector<change> out;
    out.reserve(_entries.size() + _files.size());
    for (const auto& [key, c] : _entries) out.push_back(c);
    for (const auto& [path, f] : _files) out.push_back(file_put_change(f));
    return out;
}

void kv_state::clear() {
    _entries.clear();
    _files = {};
    _last = {};
    _requests.clear();
    _request_index.clear();
}

const change* kv_state::find(std::string_view key) const {
    auto it = _entries.find(key);
    return it == _entries.end() ? nullptr : &it->second;
}

std::optional<request_record> kv_state::find_request(std::uint64_t client_id, std::uint64_t request_id) const {
    auto it = _request_index.find({client_id, request_id});
    if (it == _request_index.end()) return std::nullopt;
    return it->second;
}

void kv_state::remember(const request_record& r) {
    if (!_request_index.emplace(request_key{r.client_id, r.request_id}, r).second) return;
    _requests.push_back(r);
    if (_requests.size() > limits::remembered_requests) {
        const auto& old = _requests.front();
        _request_index.erase({old.client_id, old.request_id});
        _requests.pop_front();
    }
}

}  // namespace starbus
