// File: file_bytes.hpp
// Reading and writing a whole file's bytes, and little-endian fields inside
// them, for the tests of the on-disk formats (change log, snapshot file,
// durable store, posix_io).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace starbus::test {

inline std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::uint32_t le32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

inline std::uint64_t le64(const std::string& s, std::size_t at) {
    return le32(s, at) | std::uint64_t(le32(s, at + 4)) << 32;
}

}  // namespace starbus::test
