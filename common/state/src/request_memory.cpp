// File: request_memory.cpp
#include <starbus/state/request_memory.hpp>

#include <algorithm>
#include <cassert>

namespace starbus {
namespace {

constexpr std::size_t first_index_size = 64;

std::uint32_t hash_of(std::uint64_t client_id, std::uint64_t request_id) {
    // Request ids count up per client: a multiplicative mix spreads neighbours over the table.
    std::uint64_t h = (client_id * 0x9E3779B97F4A7C15ull) ^ request_id;
    h *= 0xBF58476D1CE4E5B9ull;
    return static_cast<std::uint32_t>(h >> 32);
}

std::uint64_t slot_value(std::uint32_t hash, std::uint32_t at) { return (std::uint64_t{hash} << 32) | (at + 1u); }
std::uint32_t hash_in(std::uint64_t slot) { return static_cast<std::uint32_t>(slot >> 32); }
std::uint32_t position_in(std::uint64_t slot) { return static_cast<std::uint32_t>(slot) - 1u; }

}  // namespace

request_memory::request_memory(std::size_t capacity) : _capacity(capacity) {
    assert(capacity > 0 && capacity < (1ull << 30));
}

bool request_memory::certainly_new(std::uint64_t client_id, std::uint64_t request_id) const {
    const auto h = _highest.find(client_id);
    return h != _highest.end() && request_id > h->second;
}

void request_memory::raise_watermark(const request_record& r) {
    // Once the table is full it stays full until clear(): an entry is only ever made at a client's first
    // record, so it covers every record of that client.
    if (auto h = _highest.find(r.client_id); h != _highest.end()) h->second = std::max(h->second, r.request_id);
    else if (_highest.size() < max_watermarks) _highest.emplace(r.client_id, r.request_id);
}

std::optional<request_record> request_memory::find(std::uint64_t client_id, std::uint64_t request_id) const {
    if (_count == 0 || certainly_new(client_id, request_id)) return std::nullopt;
    const std::size_t mask = _slots.size() - 1;
    const std::uint32_t hash = hash_of(client_id, request_id);
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const std::uint64_t s = _slots[i];
        if (s == 0) return std::nullopt;
        if (hash_in(s) != hash) continue;
        const request_record& r = _ring[position_in(s)];
        if (r.client_id == client_id && r.request_id == request_id) return r;
    }
}

void request_memory::remember(const request_record& r) {
    if (find(r.client_id, r.request_id)) return;
    raise_watermark(r);
    if (_count == _capacity) {
        // Full: the newest takes the oldest's place in the ring.
        const auto at = static_cast<std::uint32_t>(_oldest);
        unindex(slot_of(at));
        _ring[at] = r;
        index(at);
        _oldest = (_oldest + 1) % _capacity;
        return;
    }
    if (2 * (_count + 1) > _slots.size()) grow_index();
    _ring.push_back(r);
    ++_count;
    index(static_cast<std::uint32_t>(_ring.size() - 1));
}

std::vector<request_record> request_memory::all() const {
    std::vector<request_record> out;
    out.reserve(_count);
    for (std::size_t i = 0; i < _count; ++i) out.push_back(_ring[(_oldest + i) % _ring.size()]);
    return out;
}

void request_memory::clear() {
    _highest.clear();
    _ring.clear();
    _slots.clear();
    _oldest = 0;
    _count = 0;
}

std::size_t request_memory::slot_of(std::uint32_t at) const {
    const std::size_t mask = _slots.size() - 1;
    const std::uint64_t wanted = slot_value(hash_of(_ring[at].client_id, _ring[at].request_id), at);
    for (std::size_t i = wanted >> 32 & mask;; i = (i + 1) & mask)
        if (_slots[i] == wanted) return i;
}

void request_memory::index(std::uint32_t at) {
    const std::size_t mask = _slots.size() - 1;
    const std::uint32_t hash = hash_of(_ring[at].client_id, _ring[at].request_id);
    std::size_t i = hash & mask;
    while (_slots[i] != 0) i = (i + 1) & mask;
    _slots[i] = slot_value(hash, at);
}

void request_memory::unindex(std::size_t slot) {
    // Backward shift: every record of the probe run after the hole moves up if its home allows, so that a
    // lookup never stops early at the hole (no tombstones to accumulate).
    const std::size_t mask = _slots.size() - 1;
    std::size_t hole = slot;
    for (std::size_t i = (slot + 1) & mask; _slots[i] != 0; i = (i + 1) & mask) {
        const std::size_t h = hash_in(_slots[i]) & mask;
        // The record may fill the hole when its home is not in (hole, i], cyclically.
        const bool home_after_hole = hole <= i ? (h > hole && h <= i) : (h > hole || h <= i);
        if (home_after_hole) continue;
        _slots[hole] = _slots[i];
        hole = i;
    }
    _slots[hole] = 0;
}

void request_memory::grow_index() {
    std::size_t size = _slots.empty() ? first_index_size : 2 * _slots.size();
    _slots.assign(size, 0);
    for (std::size_t i = 0; i < _count; ++i) index(static_cast<std::uint32_t>((_oldest + i) % _ring.size()));
}

}  // namespace starbus
