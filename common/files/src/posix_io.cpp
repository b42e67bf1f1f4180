// File: posix_io.cpp
// POSIX file operations and CRC-32C (posix_io.hpp).
#include <starbus/files/posix_io.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace starbus {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// CRC-32C, slicing-by-8: about 1-2 GB/s without special instructions, so the
// checksum costs little next to the write it protects.

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

}  // namespace

std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t size) {
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

// ---------------------------------------------------------------------------

std::string errno_text(int e) { return std::strerror(e); }

void throw_storage_error(const std::string& what, int e, std::string_view advice) {
    throw storage_error(what + ": " + errno_text(e) + std::string(advice));
}

unique_fd open_file(const fs::path& path, int flags, mode_t mode) {
    int fd;
    do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return unique_fd(fd);
}

int write_all_at(int fd, const void* data, std::size_t size, std::uint64_t offset) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        p += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return 0;
}

int write_all(int fd, const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return 0;
}

ssize_t read_full_at(int fd, void* data, std::size_t size, std::uint64_t offset) {
    auto* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, p + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) break;  // the end of the file
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

int sync_all(int fd) { return ::fsync(fd) == 0 ? 0 : errno; }

int sync_data(int fd) { return ::fdatasync(fd) == 0 ? 0 : errno; }

int sync_file_system(int fd) { return ::syncfs(fd) == 0 ? 0 : errno; }

int sync_directory(const fs::path& dir) {
    const unique_fd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    if (!fd) return errno;
    return sync_all(fd.get());
}

fs::path temp_path_of(const fs::path& target) {
    fs::path tmp = target;
    tmp += ".tmp";
    return tmp;
}

unique_fd atomic_replace(const fs::path& target, const std::function<void(int fd)>& fill, std::string_view advice,
                         mode_t mode) {
    const fs::path tmp = temp_path_of(target);
    const auto fail = [&](const std::string& what, int e) {
        throw storage_error(what + ": " + errno_text(e) + std::string(advice));
    };
    // A fresh file, so that `mode` holds from its first byte (a leftover temporary keeps its own mode).
    ::unlink(tmp.c_str());
    unique_fd fd = open_file(tmp, O_RDWR | O_CREAT | O_EXCL, mode);
    if (!fd) fail("cannot create " + tmp.string(), errno);
    try {
        fill(fd.get());
        if (int e = sync_all(fd.get()); e != 0) fail("cannot sync " + tmp.string(), e);
        if (::rename(tmp.c_str(), target.c_str()) != 0)
            fail("cannot rename " + tmp.string() + " to " + target.filename().string(), errno);
    } catch (...) {
        // The old file is intact; what was written of the new one goes.
        ::unlink(tmp.c_str());
        throw;
    }
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (int e = sync_directory(dir); e != 0) fail("cannot sync directory " + dir.string(), e);
    return fd;
}

unique_fd atomic_replace(const fs::path& target, std::string_view bytes, std::string_view advice) {
    return atomic_replace(
        target,
        [&](int fd) {
            if (int e = write_all_at(fd, bytes.data(), bytes.size(), 0); e != 0)
                throw storage_error("cannot write " + temp_path_of(target).string() + ": " + errno_text(e) +
                                    std::string(advice));
        },
        advice);
}

}  // namespace starbus
