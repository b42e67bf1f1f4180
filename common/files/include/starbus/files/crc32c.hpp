// File: crc32c.hpp
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI and ext4):
// the checksum of every record of the change log, the snapshot and the
// durable store. It is computed for every change written and read back, so on
// x86-64 CPUs with SSE4.2 it uses the crc32 instruction (about 5-10x the
// table's speed), chosen at each call by the CPU's feature flags; elsewhere a
// slicing-by-8 table. Both give the same value for every input (the unit test
// compares them), so files move freely between machines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace starbus {

// crc32c_update() continues a checksum: start from 0 and chain, so that
// crc32c_update(crc32c(a), b) == crc32c(a followed by b).
[[nodiscard]] std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t size);
[[nodiscard]] inline std::uint32_t crc32c(const void* data, std::size_t size) { return crc32c_update(0, data, size); }
[[nodiscard]] inline std::uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

// The two ways crc32c_update() has, for tests and benchmarks: the table (any CPU), and the crc32 instruction,
// which only a CPU that has it may call (crc32c_hardware_available()).
[[nodiscard]] std::uint32_t crc32c_update_table(std::uint32_t crc, const void* data, std::size_t size);
[[nodiscard]] bool crc32c_hardware_available();
[[nodiscard]] std::uint32_t crc32c_update_hardware(std::uint32_t crc, const void* data, std::size_t size);

}  // namespace starbus
