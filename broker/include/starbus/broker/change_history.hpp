// File: change_history.hpp
// The recent changes a server keeps in memory so that a replica or a mirroring
// client that fell a little behind gets only what it missed (a delta) instead
// of a full snapshot (protocol.md "Positions and history").
//
// The history is a bounded window of contiguous changes (base, last]: `base` is
// the position just before the first held change. Appending past the capacity
// drops the oldest change and moves base up to it. A resync from position p is
// served as a delta when p is base or a held change with the same epoch: then
// the asker's history equals ours up to p, and the changes after p complete it.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include <starbus/wire/types.hpp>

namespace starbus {

class change_history {
  public:
    explicit change_history(std::size_t capacity = 100000);

    // Empties the history; it starts right after `base` (a snapshot's position).
    void reset(position base);

    // Adds the next change; its seq must follow last(). Past the capacity the
    // oldest change is dropped and base() moves up to it.
    void append(const change& c);

    // The position just before the first held change.
    [[nodiscard]] position base() const { return _base; }
    // The last held change, or base() when empty.
    [[nodiscard]] position last() const { return _changes.empty() ? _base : _changes.back().pos(); }
    [[nodiscard]] std::size_t size() const { return _changes.size(); }
    [[nodiscard]] std::size_t capacity() const { return _capacity; }

    // The changes after `from`, oldest first (empty when `from` is last()), when
    // `from` is base() or a held change with the same epoch. std::nullopt when it
    // is not: older than base, another epoch at that seq (a diverged history) or
    // ahead of last(). The asker then needs a full snapshot.
    [[nodiscard]] std::optional<std::vector<change>> after(position from) const;
    // The held changes whose seq is greater than `seq` (all of them when `seq`
    // is at or before base()), without the epoch check: for this broker's own
    // use, e.g. the unacknowledged tail when it starts serving.
    [[nodiscard]] std::vector<change> tail_after(std::uint64_t seq) const;

    // The position of the held change at `seq` (or of base()), if it is held.
    [[nodiscard]] std::optional<position> position_of(std::uint64_t seq) const;

  private:
    std::size_t _capacity;
    position _base;
    std::deque<change> _changes;  // contiguous seqs _base.seq + 1 .. last().seq
};

}  // namespace starbus
