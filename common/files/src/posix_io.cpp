// File: posix_io.cpp
// POSIX file operations (posix_io.hpp).
#include <starbus/files/posix_io.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace starbus {
namespace {

namespace fs = std::filesystem;

}  // namespace

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
