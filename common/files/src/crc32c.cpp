// File: crc32c.cpp
// CRC-32C by table or by the SSE4.2 crc32 instruction (crc32c.hpp).
#include <starbus/files/crc32c.hpp>

#include <array>
#include <cassert>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define STARBUS_CRC32C_SSE42 1
#endif

namespace starbus {
namespace {

// Slicing-by-8: about 1-2 GB/s without special instructions.
using crc_tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc_tables make_crc_tables() {
    crc_tables t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[0][i] = c;
    }
    // Table s advances a byte through s further zero bytes, so 8 bytes are folded in one step.
    for (std::size_t i = 0; i < 256; ++i)
        for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    return t;
}

// Computed by the compiler: a constant, not state.
constexpr crc_tables crc_table = make_crc_tables();

#ifdef STARBUS_CRC32C_SSE42
// The instruction computes the same reflected CRC-32C step as the table, 8 bytes at a time. Compiled for
// SSE4.2 whatever the build's target, and called only after the CPU said it has it.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc, const unsigned char* p,
                                                             std::size_t size) {
    std::uint64_t c = ~crc;
    for (; size >= 8; p += 8, size -= 8) {
        std::uint64_t word;
        std::memcpy(&word, p, sizeof word);  // unaligned, little-endian: the byte order the table folds in
        c = _mm_crc32_u64(c, word);
    }
    auto c32 = static_cast<std::uint32_t>(c);
    for (; size > 0; ++p, --size) c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}
#endif

}  // namespace

std::uint32_t crc32c_update_table(std::uint32_t crc, const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    while (size >= 8) {
        const std::uint32_t lo = crc ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                        std::uint32_t(p[3]) << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
        p += 8;
        size -= 8;
    }
    while (size--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

bool crc32c_hardware_available() {
#ifdef STARBUS_CRC32C_SSE42
    // libgcc reads the CPU's feature flags once, before main: this is a load and a test.
    return __builtin_cpu_supports("sse4.2");
#else
    return false;
#endif
}

std::uint32_t crc32c_update_hardware(std::uint32_t crc, const void* data, std::size_t size) {
    assert(crc32c_hardware_available());
#ifdef STARBUS_CRC32C_SSE42
    return crc32c_sse42(crc, static_cast<const unsigned char*>(data), size);
#else
    return crc32c_update_table(crc, data, size);
#endif
}

std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t size) {
    return crc32c_hardware_available() ? crc32c_update_hardware(crc, data, size)
                                       : crc32c_update_table(crc, data, size);
}

}  // namespace starbus
