// File: file_store.cpp
// The content-addressed object store of a broker (file_store.hpp).
#include "file_store.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include <spdlog/spdlog.h>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>
#include <starbus/files/posix_io.hpp>

namespace starbus {
namespace {

namespace fs = std::filesystem;

// Descriptors kept open for reads.
constexpr std::size_t max_open_objects = 64;

}  // namespace

file_store::file_store(const fs::path& data_dir) : _dir(data_dir / "objects"), _tmp(_dir / "tmp") {
    std::error_code ec;
    fs::create_directories(_tmp, ec);
    if (ec)
        throw storage_error("cannot create " + _tmp.string() + ": " + ec.message() +
                            " (check the permissions of the data directory, or choose another --data-dir)");
    std::size_t leftovers = 0;
    for (const auto& e : fs::directory_iterator(_tmp, ec)) {
        fs::remove(e.path(), ec);
        ++leftovers;
    }
    if (leftovers > 0) spdlog::info("files: removed {} unfinished transfers from {}", leftovers, _tmp.string());
    for (const auto& fan : fs::directory_iterator(_dir, ec)) {
        if (!fan.is_directory() || fan.path() == _tmp) continue;
        for (const auto& obj : fs::directory_iterator(fan.path(), ec)) {
            const std::string name = obj.path().filename().string();
            std::error_code size_ec;
            const auto size = fs::file_size(obj.path(), size_ec);
            if (!is_lower_hex(name, content_hash_hex_chars) || size_ec || !obj.is_regular_file()) {
                spdlog::warn("files: ignoring {}: not an object this store wrote", obj.path().string());
                continue;
            }
            _objects.emplace(name, size);
        }
    }
    if (ec) throw storage_error("cannot list " + _dir.string() + ": " + ec.message());
}

fs::path file_store::object_path(std::string_view hash) const {
    return _dir / std::string(hash.substr(0, 2)) / std::string(hash);
}

fs::path file_store::temp_path(std::string_view hash) {
    return _tmp / (std::string(hash.substr(0, 16)) + "." + std::to_string(::getpid()) + "." +
                   std::to_string(++_temp_counter));
}

bool file_store::prepare_directory(std::string_view hash, std::string* why) {
    std::error_code ec;
    fs::create_directories(object_path(hash).parent_path(), ec);
    if (ec && why) *why = "cannot create " + object_path(hash).parent_path().string() + ": " + ec.message();
    return !ec;
}

void file_store::installed(std::string_view hash, std::uint64_t size) {
    close_cached(std::string(hash));  // a descriptor of a replaced file would read the old inode
    _objects[std::string(hash)] = size;
}

std::optional<std::uint64_t> file_store::size_of(std::string_view hash) const {
    auto it = _objects.find(std::string(hash));
    if (it == _objects.end()) return std::nullopt;
    return it->second;
}

int file_store::open_cached(const std::string& hash) {
    if (auto it = _open_index.find(hash); it != _open_index.end()) {
        _open.splice(_open.begin(), _open, it->second);
        return it->second->second.get();
    }
    unique_fd fd = open_file(object_path(hash), O_RDONLY | O_NOFOLLOW);
    if (!fd) return -1;
    if (_open.size() >= max_open_objects) {
        _open_index.erase(_open.back().first);
        _open.pop_back();
    }
    _open.emplace_front(hash, std::move(fd));
    _open_index[hash] = _open.begin();
    return _open.front().second.get();
}

void file_store::close_cached(const std::string& hash) {
    auto it = _open_index.find(hash);
    if (it == _open_index.end()) return;
    _open.erase(it->second);
    _open_index.erase(it);
}

bool file_store::read(std::string_view hash, std::uint64_t offset, std::uint64_t length, char* dst,
                      std::string* why) {
    const std::string h(hash);
    auto it = _objects.find(h);
    if (it == _objects.end()) {
        if (why) *why = "version " + h.substr(0, 12) + " is not held here";
        return false;
    }
    if (offset > it->second || length > it->second - offset) {
        if (why)
            *why = "bytes " + std::to_string(offset) + "+" + std::to_string(length) + " are outside the file of " +
                   std::to_string(it->second) + " bytes";
        return false;
    }
    const int fd = open_cached(h);
    if (fd < 0) {
        if (why) *why = "cannot open " + object_path(h).string() + ": " + errno_text(errno);
        return false;
    }
    const ssize_t n = read_full_at(fd, dst, length, offset);
    if (n < 0 || static_cast<std::uint64_t>(n) < length) {
        if (why)
            *why = "cannot read " + object_path(h).string() + ": " +
                   (n >= 0 ? std::string("the file is shorter than its manifest entry")
                           : errno_text(static_cast<int>(-n)));
        close_cached(h);
        return false;
    }
    return true;
}

void file_store::remove_object(const std::string& hash) {
    close_cached(hash);
    std::error_code ec;
    fs::remove(object_path(hash), ec);
    if (ec) spdlog::warn("files: cannot delete {}: {}", object_path(hash).string(), ec.message());
    _objects.erase(hash);
}

std::size_t file_store::collect(const std::vector<std::string>& candidates, const file_manifest& manifest,
                                const std::vector<std::string>& keep) {
    const std::set<std::string> kept(keep.begin(), keep.end());
    std::size_t removed = 0;
    for (const auto& h : candidates) {
        if (manifest.references(h) > 0 || kept.contains(h) || !_objects.contains(h)) continue;
        remove_object(h);
        ++removed;
    }
    return removed;
}

std::size_t file_store::collect_all(const file_manifest& manifest, const std::vector<std::string>& keep) {
    std::vector<std::string> all;
    all.reserve(_objects.size());
    for (const auto& [h, size] : _objects) all.push_back(h);
    return collect(all, manifest, keep);
}

std::vector<file_entry> file_store::missing(const file_manifest& manifest) const {
    std::vector<file_entry> out;
    for (const auto& [path, e] : manifest) {
        auto it = _objects.find(e.hash);
        if (it == _objects.end() || it->second != e.size) out.push_back(e);
    }
    return out;
}

std::optional<std::uint64_t> file_store::free_bytes() const {
    struct statvfs st {};
    if (::statvfs(_dir.c_str(), &st) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace starbus
