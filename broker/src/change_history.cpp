// File: change_history.cpp
// The bounded window of recent changes used for delta resync (change_history.hpp).
#include <starbus/broker/change_history.hpp>

#include <algorithm>
#include <cassert>
#include <iterator>

namespace starbus {

change_history::change_history(std::size_t capacity) : _capacity(capacity) {}

void change_history::reset(position base) {
    _changes.clear();
    _base = base;
}

void change_history::append(const change& c) {
    assert(c.seq == last().seq + 1);
    if (_capacity == 0) {
        // Nothing is kept: every resync from before this change needs a snapshot.
        _base = c.pos();
        return;
    }
    if (_changes.size() == _capacity) {
        // The oldest change's strings take the new one's bytes (copy-assignment keeps their buffers): a full
        // window allocates nothing per change.
        _base = _changes.front().pos();
        change recycled = std::move(_changes.front());
        _changes.pop_front();
        recycled = c;
        _changes.push_back(std::move(recycled));
        return;
    }
    _changes.push_back(c);
}

std::optional<std::vector<change>> change_history::after(position from) const {
    if (from == _base) return std::vector<change>(_changes.begin(), _changes.end());
    // Strictly inside (base, last]: the held change at that seq must carry the
    // same epoch, else the asker's history diverged from ours at or before it.
    if (from.seq <= _base.seq || from.seq > last().seq) return std::nullopt;
    const auto index = static_cast<std::ptrdiff_t>(from.seq - _base.seq - 1);
    const auto at = _changes.begin() + index;
    if (at->epoch != from.epoch) return std::nullopt;
    return std::vector<change>(std::next(at), _changes.end());
}

std::vector<change> change_history::tail_after(std::uint64_t seq) const {
    if (seq >= last().seq) return {};
    const std::uint64_t skip = seq > _base.seq ? seq - _base.seq : 0;
    return std::vector<change>(_changes.begin() + static_cast<std::ptrdiff_t>(skip), _changes.end());
}

std::optional<position> change_history::position_of(std::uint64_t seq) const {
    if (seq == _base.seq) return _base;
    if (seq <= _base.seq || seq > last().seq) return std::nullopt;
    return _changes[static_cast<std::size_t>(seq - _base.seq - 1)].pos();
}

}  // namespace starbus
