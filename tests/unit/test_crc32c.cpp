// File: test_crc32c.cpp
// CRC-32C's two ways (crc32c.hpp): the table and the SSE4.2 instruction give
// the published values and the same value for every input, whatever its
// length, alignment and the splits it is chained across. (The dispatched
// crc32c() is checked against the same vectors in test_posix_io.cpp.)
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <starbus/files/crc32c.hpp>

using namespace starbus;

namespace {

using crc_fn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);

std::uint32_t of(crc_fn f, std::string_view s) { return f(0, s.data(), s.size()); }

// The ways this machine can run: the table always, the instruction when the CPU has it.
std::vector<std::pair<const char*, crc_fn>> ways() {
    std::vector<std::pair<const char*, crc_fn>> w{{"table", &crc32c_update_table}};
    if (crc32c_hardware_available()) w.emplace_back("sse4.2", &crc32c_update_hardware);
    return w;
}

}  // namespace

TEST_CASE("crc32c: the table and the instruction give the published check value and the RFC 3720 vectors") {
    std::string ascending(32, '\0'), descending(32, '\0');
    for (int i = 0; i < 32; ++i) {
        ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
        descending[static_cast<std::size_t>(i)] = static_cast<char>(31 - i);
    }
    for (const auto& [name, f] : ways()) {
        INFO(name);
        CHECK(of(f, "123456789") == 0xE3069283u);
        CHECK(of(f, "") == 0u);
        CHECK(of(f, std::string(32, '\0')) == 0x8A9136AAu);
        CHECK(of(f, std::string(32, '\xff')) == 0x62A8AB43u);
        CHECK(of(f, ascending) == 0x46DD794Eu);
        CHECK(of(f, descending) == 0x113FDB5Cu);
    }
}

TEST_CASE("crc32c: the instruction gives the table's value for every length, alignment and split") {
    if (!crc32c_hardware_available()) {
        WARN("this CPU has no SSE4.2: only the table runs here");
        return;
    }
    std::mt19937_64 random(20261203);
    std::string buffer(4096 + 16, '\0');
    for (auto& c : buffer) c = static_cast<char>(random());
    std::size_t mismatches = 0;
    for (std::size_t size = 0; size <= 300; ++size)
        for (std::size_t offset = 0; offset < 8; ++offset) {  // every alignment of the 8-byte steps
            const char* p = buffer.data() + offset;
            if (crc32c_update_hardware(0, p, size) != crc32c_update_table(0, p, size)) ++mismatches;
            // Chained from a running value, as a record's checksum continues its length's.
            const std::uint32_t seed = static_cast<std::uint32_t>(random());
            if (crc32c_update_hardware(seed, p, size) != crc32c_update_table(seed, p, size)) ++mismatches;
        }
    for (int i = 0; i < 2000; ++i) {  // long inputs of random length, split anywhere
        const std::size_t size = random() % 4096, cut = size ? random() % size : 0, offset = random() % 16;
        const char* p = buffer.data() + offset;
        const std::uint32_t whole = crc32c_update_table(0, p, size);
        if (crc32c_update_hardware(0, p, size) != whole) ++mismatches;
        if (crc32c_update_hardware(crc32c_update_hardware(0, p, cut), p + cut, size - cut) != whole) ++mismatches;
    }
    CHECK(mismatches == 0);
    // What every caller gets is the instruction's.
    CHECK(crc32c(buffer) == crc32c_update_table(0, buffer.data(), buffer.size()));
}
