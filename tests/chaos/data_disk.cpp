// File: data_disk.cpp
// A tmpfs per broker and its ballast (see data_disk.hpp).
#include "data_disk.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "proc.hpp"

namespace starbus::chaos {

namespace {
const char* ballast_name = "ballast";
}

data_disk::data_disk(std::filesystem::path mount_point, const std::string& source, std::uint64_t size_mb)
    : _mount(std::move(mount_point)) {
    std::error_code ec;
    std::filesystem::create_directories(_mount, ec);
    if (ec)
        throw harness_error("cannot create " + _mount.string() + ": " + ec.message() + "; choose another --run-dir");
    const std::string options = "size=" + std::to_string(size_mb) + "m,mode=0755";
    if (::mount(source.c_str(), _mount.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
        throw harness_error("cannot mount a tmpfs at " + _mount.string() + ": " + std::strerror(errno) +
                            " (root is needed)");
    _mounted = true;
    std::filesystem::create_directories(data_dir(), ec);
    if (ec) {
        // The destructor does not run for a constructor that throws.
        ::umount2(_mount.c_str(), MNT_DETACH);
        throw harness_error("cannot create " + data_dir().string() + ": " + ec.message());
    }
}

data_disk::~data_disk() {
    if (!_mounted) return;
    // Lazy: a broker killed a moment ago may still be releasing its files.
    if (::umount2(_mount.c_str(), 0) != 0) ::umount2(_mount.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove(_mount, ec);
}

std::uint64_t data_disk::fill() {
    const std::string path = (_mount / ballast_name).string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw harness_error("cannot create the ballast " + path + ": " + std::strerror(errno));
    std::uint64_t written = 0;
    // Big writes first, then page-sized ones for the last few pages. Bounded:
    // the tmpfs has a fixed size, and every pass stops at its first short write.
    for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{4096}}) {
        const std::vector<char> zeros(chunk, 0);
        while (true) {
            const ssize_t n = ::write(fd, zeros.data(), zeros.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            written += static_cast<std::uint64_t>(n);
            if (static_cast<std::size_t>(n) < chunk) break;
        }
    }
    ::close(fd);
    _full = true;
    return written;
}

void data_disk::drain() {
    std::error_code ec;
    std::filesystem::remove(_mount / ballast_name, ec);
    _full = false;
}

std::uint64_t data_disk::free_bytes() const {
    struct statvfs s {};
    if (::statvfs(_mount.c_str(), &s) != 0) return 0;
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
}

}  // namespace starbus::chaos
