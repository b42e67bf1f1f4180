// File: snapshot_file.hpp
// The snapshot file of a data directory: the compacted state at one position,
// written whole through atomic_replace() and read back object by object
// through a bounded buffer. Its format (header with two CRC-32Cs, then a
// sequence of msgpack objects) is documented in durable_store.hpp and must not
// change: existing data directories must still load.
#pragma once

#include <filesystem>

#include <starbus/config/cluster_config.hpp>
#include <starbus/state/kv_state.hpp>

namespace starbus {

// Size of the snapshot's fixed header, before its msgpack body.
constexpr std::size_t snapshot_header_size = 24;

// Replaces the snapshot at `path` with `s`, crash-safely (path.tmp, fsync,
// rename, fsync the directory). Throws storage_error naming the file; the old
// snapshot is then intact and no temporary is left behind. Returns the file's
// bytes (what the compaction rule weighs the log against).
std::uint64_t write_snapshot_file(const std::filesystem::path& path, const kv_state& s);

// Loads the snapshot at `path` into a state that keeps `retention` bus
// messages. Throws storage_error when the file cannot be read or is corrupt
// (the message says which and what to do): a broker never starts empty by
// mistake.
[[nodiscard]] kv_state read_snapshot_file(const std::filesystem::path& path, const bus_retention& retention);

}  // namespace starbus
