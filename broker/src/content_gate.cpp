// File: content_gate.cpp
// Changes that wait for their file content, and the fetches that bring it
// (content_gate.hpp).
#include "content_gate.hpp"

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

// A version the server said it does not hold is asked for again after this
// (by then the change that replaced it has usually arrived, and it is no
// longer wanted at all).
constexpr std::chrono::milliseconds stale_retry{500};
// After a local failure (the disk is full, a write failed), a longer pause.
constexpr std::chrono::milliseconds failure_retry{2000};

}  // namespace

content_gate::content_gate(file_store& store, fetch_settings settings, std::function<std::uint64_t()> next_request_id)
    : _store(store), _fetch(settings, std::move(next_request_id)) {}

void content_gate::set_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests,
                                std::uint64_t bus_dropped_through, std::vector<epoch_span> epochs) {
    _queue.clear();
    _snapshot = waiting_snapshot{std::move(entries), at, std::move(requests), bus_dropped_through, std::move(epochs)};
}

position content_gate::last_received(position applied) const {
    if (!_queue.empty()) return _queue.back().pos();
    if (_snapshot) return _snapshot->at;
    return applied;
}

bool content_gate::add(const change& c, position applied) {
    const position last = last_received(applied);
    if (c.seq <= last.seq) return true;  // already held (a resent tail)
    if (c.seq != last.seq + 1) return false;
    _queue.push_back(c);
    return true;
}

void content_gate::note_missing(const std::vector<file_entry>& entries) {
    for (const auto& e : entries) _damaged.insert(e.path);
}

std::vector<std::string> content_gate::referenced_hashes() const {
    std::vector<std::string> out;
    const auto add = [&](const change& c) {
        if (auto e = file_entry_of(c)) out.push_back(e->hash);
    };
    if (_snapshot)
        for (const auto& c : _snapshot->entries) add(c);
    for (const auto& c : _queue) add(c);
    return out;
}

void content_gate::note_failed_fetches(std::chrono::steady_clock::time_point now) {
    for (auto& f : _fetch.take_failed()) {
        _tags.erase(f.entry.hash);
        _retry_at[f.entry.hash] = now + (f.stale ? stale_retry : failure_retry);
        if (!f.stale) {
            _trouble = f.reason;
            spdlog::warn("files: cannot fetch {}: {}", f.entry.path, f.reason);
        }
    }
}

bool content_gate::pump(local_replica& replica, std::chrono::steady_clock::time_point now) {
    note_failed_fetches(now);
    // Walk the state that applying everything waiting would give, noting after which change no current file
    // lacks content (the prefix that may be applied) and which versions are current but missing (to fetch).
    std::set<std::string> missing;
    std::map<std::string, file_entry> wanted;
    const auto track = [&](const change& c) {
        if (c.op == change_op::file_erase) {
            missing.erase(c.key);
            wanted.erase(c.key);
            return;
        }
        if (c.op != change_op::file_put) return;
        auto e = file_entry_of(c);
        if (e && !_store.has(e->hash)) {
            missing.insert(c.key);
            wanted[c.key] = std::move(*e);
        } else {
            missing.erase(c.key);
            wanted.erase(c.key);
        }
    };
    if (_snapshot) {
        for (const auto& c : _snapshot->entries) track(c);
    } else {
        for (auto it = _damaged.begin(); it != _damaged.end();) {
            const file_entry* e = replica.state().files().find(*it);
            if (!e || _store.has(e->hash)) {
                it = _damaged.erase(it);
                continue;
            }
            missing.insert(*it);
            wanted[*it] = *e;
            ++it;
        }
    }
    std::optional<std::size_t> applicable;
    if (missing.empty()) applicable = 0;
    for (std::size_t i = 0; i < _queue.size(); ++i) {
        track(_queue[i]);
        if (missing.empty()) applicable = i + 1;
    }
    want(wanted, now);
    if (!applicable) return false;
    const bool applied = apply_prefix(replica, *applicable);
    if (applied && wanted.empty()) _trouble.clear();
    return applied;
}

bool content_gate::apply_prefix(local_replica& replica, std::size_t applicable) {
    bool applied = false;
    if (_snapshot) {
        replica.install(std::move(_snapshot->entries), _snapshot->at, std::move(_snapshot->requests),
                        _snapshot->bus_dropped_through, _snapshot->epochs);
        _snapshot.reset();
        _damaged.clear();
        applied = true;
    }
    for (std::size_t i = 0; i < applicable; ++i) {
        if (!replica.apply(_queue.front())) {
            // Cannot happen: the queue follows what was applied. Drop it all; the stuck-stream rule resyncs.
            spdlog::error("files: a waiting change does not follow the replica; dropping {} waiting changes",
                          _queue.size());
            _queue.clear();
            return applied;
        }
        _queue.pop_front();
        applied = true;
    }
    return applied;
}

void content_gate::want(const std::map<std::string, file_entry>& wanted, std::chrono::steady_clock::time_point now) {
    std::map<std::string, const file_entry*> by_hash;
    for (const auto& [path, e] : wanted) by_hash.emplace(e.hash, &e);
    // Versions no longer wanted (replaced by a change that arrived since): stop fetching them.
    for (auto it = _tags.begin(); it != _tags.end();) {
        if (by_hash.contains(it->first)) {
            ++it;
            continue;
        }
        _fetch.cancel(it->second);
        it = _tags.erase(it);
    }
    for (const auto& [hash, e] : by_hash) {
        if (_tags.contains(hash) || _installing.contains(hash)) continue;
        if (auto r = _retry_at.find(hash); r != _retry_at.end()) {
            if (now < r->second) continue;
            _retry_at.erase(r);
        }
        const std::uint64_t tag = ++_last_tag;
        _fetch.add(*e, _store.temp_path(hash), tag);
        _tags.emplace(hash, tag);
    }
    std::erase_if(_retry_at, [&](const auto& kv) { return !by_hash.contains(kv.first); });
}

bool content_gate::on_error(std::uint64_t request_id, error_code code, const std::string& text,
                            std::chrono::steady_clock::time_point) {
    auto tag = _fetch.on_stale(request_id);
    if (!tag) return false;
    if (code != error_code::stale_version) spdlog::warn("files: the server refused a FETCH: {}", text);
    return true;
}

std::vector<fetched_file> content_gate::take_fetched() {
    auto done = _fetch.take_completed();
    for (const auto& f : done) {
        _tags.erase(f.entry.hash);
        _installing.insert(f.entry.hash);
    }
    return done;
}

void content_gate::installed(const std::string& hash, bool ok, const std::string& error,
                             std::chrono::steady_clock::time_point now) {
    _installing.erase(hash);
    if (ok) return;
    _trouble = error;
    _retry_at[hash] = now + failure_retry;
    spdlog::warn("files: cannot install version {}: {}", hash.substr(0, 12), error);
}

void content_gate::new_session() {
    _queue.clear();
    _snapshot.reset();
    _fetch.restart();
}

void content_gate::clear() {
    _fetch.clear();
    _tags.clear();
    _queue.clear();
    _snapshot.reset();
    _retry_at.clear();
    _trouble.clear();
    // _installing stays: those files are in the installer; their results still arrive.
}

}  // namespace starbus
