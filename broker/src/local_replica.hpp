// File: local_replica.hpp
// This broker's copy of the cluster state, kept three ways at once: the live
// kv_state, the recent change_history (for delta resync of others), and the
// durable_store on disk. Every change goes through here so the three never
// disagree.
#pragma once

#include <filesystem>

#include <starbus/broker/change_history.hpp>
#include <starbus/broker/durable_store.hpp>
#include <starbus/state/kv_state.hpp>

namespace starbus {

class local_replica {
  public:
    // Opens the data directory and recovers what it holds (storage_error on failure).
    local_replica(const std::filesystem::path& dir, fsync_mode mode, std::size_t history_capacity,
                  const bus_retention& bus = {});

    [[nodiscard]] const kv_state& state() const { return _state; }
    [[nodiscard]] const change_history& history() const { return _history; }
    [[nodiscard]] position last() const { return _state.last(); }
    // Highest epoch this broker knows; persisted.
    [[nodiscard]] std::uint64_t epoch() const { return _epoch; }
    void set_epoch(std::uint64_t e);

    // Applies the next change in memory and queues it for the disk. Returns
    // false (nothing changed) when it does not follow last(): a gap.
    [[nodiscard]] bool apply(const change& c);
    // Replaces everything with a full snapshot from the server.
    void install(std::vector<change> entries, position at, std::vector<request_record> requests,
                 std::uint64_t bus_dropped_through = 0, const std::vector<epoch_span>& epochs = {});
    // Writes what apply() queued (one write, one fdatasync) and compacts when
    // the log is long. After it, flushed_seq() == last().seq.
    void flush();
    [[nodiscard]] std::uint64_t flushed_seq() const { return _flushed_seq; }

    // File versions that applied changes (or a snapshot) stopped referencing
    // since the last call: the store may delete them once the change is on
    // disk (after flush()), if nothing references them again.
    [[nodiscard]] std::vector<std::string> take_released();

  private:
    durable_store _store;
    kv_state _state;
    change_history _history;
    std::uint64_t _epoch = 0;
    std::uint64_t _flushed_seq = 0;
    bool _dirty = false;
    std::vector<std::string> _released;
};

}  // namespace starbus
