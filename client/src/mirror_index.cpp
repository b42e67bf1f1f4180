// File: mirror_index.cpp
// The local side of a file mirror (mirror_index.hpp).
#include "mirror_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <msgpack.hpp>

#include <starbus/files/fast_hash.hpp>
#include <starbus/wire/file_path.hpp>
#include <starbus/files/unique_fd.hpp>

namespace starbus::client_detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view index_magic = "SBMIRROR1";

std::uint64_t mtime_ns(const struct stat& st) {
    return static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
}

}  // namespace

mirror_index::mirror_index(fs::path dir) : _dir(std::move(dir)) {}

bool mirror_index::load(std::string* why) {
    _files.clear();
    std::ifstream in(_dir / mirror_index_name, std::ios::binary);
    if (!in) {
        if (why) *why = "no index";
        return false;
    }
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
        msgpack::object_handle h = msgpack::unpack(data.data(), data.size());
        auto [magic, files] = h.get().as<std::pair<std::string, std::vector<local_file>>>();
        if (magic != index_magic) throw std::runtime_error("not a starbus mirror index");
        for (auto& f : files) {
            std::string path = f.entry.path;
            _files.emplace(std::move(path), std::move(f));
        }
        _dirty = false;
        return true;
    } catch (const std::exception& e) {
        _files.clear();
        if (why) *why = std::string("unreadable index (") + e.what() + "): every file is read again";
        return false;
    }
}

bool mirror_index::save(std::string* why) {
    if (!_dirty && std::filesystem::exists(_dir / mirror_index_name)) return true;
    std::vector<local_file> files;
    files.reserve(_files.size());
    for (const auto& [path, f] : _files) files.push_back(f);
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, std::make_pair(std::string(index_magic), files));
    const fs::path temp = _dir / (std::string(mirror_index_name) + ".tmp");
    {
        unique_fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
        if (!fd || ::write(fd.get(), buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size())) {
            if (why) *why = "cannot write " + temp.string() + ": " + std::strerror(errno);
            return false;
        }
    }
    if (::rename(temp.c_str(), (_dir / mirror_index_name).c_str()) != 0) {
        if (why) *why = "cannot replace " + (_dir / mirror_index_name).string() + ": " + std::strerror(errno);
        return false;
    }
    _dirty = false;
    return true;
}

bool mirror_index::stat_into(const std::string& path, local_file& f) const {
    struct stat st {};
    if (::lstat((_dir / path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    f.entry.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime_ns = mtime_ns(st);
    f.inode = static_cast<std::uint64_t>(st.st_ino);
    return true;
}

mirror_index::scan_result mirror_index::scan() {
    scan_result out;
    std::set<std::string> seen;
    std::error_code ec;
    // Relative names by cutting the directory's prefix: std::filesystem::relative() would resolve every
    // component of every path (several syscalls per file), and a pass must cost one stat per file.
    const std::string root = _dir.native() + (_dir.native().ends_with('/') ? "" : "/");
    // Symlinks are neither followed nor indexed: they are not files the cluster can hold.
    for (auto it = fs::recursive_directory_iterator(_dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(file_limits::reserved_prefix, 0) == 0 && it.depth() == 0) {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        if (it->is_symlink() || !it->is_regular_file()) continue;
        const std::string& full = it->path().native();
        if (full.rfind(root, 0) != 0) continue;
        const std::string rel = full.substr(root.size());
        auto canonical = normalise_remote_path(rel);
        if (!canonical || *canonical != rel) {
            out.strays.push_back(rel);
            continue;
        }
        seen.insert(rel);
        local_file now;
        if (!stat_into(rel, now)) continue;
        auto known = _files.find(rel);
        if (known != _files.end() && known->second.entry.size == now.entry.size &&
            known->second.mtime_ns == now.mtime_ns && known->second.inode == now.inode)
            continue;  // unchanged since we wrote or read it
        std::string why;
        auto d = digest_file(_dir / rel, false, &why);
        if (!d) {
            out.errors.push_back(why);
            continue;
        }
        now.entry.path = rel;
        now.entry.xxh = d->xxh128;
        now.entry.size = d->size;
        _files[rel] = std::move(now);  // no SHA-256 known: compared with the cluster's by XXH3-128
        ++out.rehashed;
        _dirty = true;
    }
    if (ec) out.errors.push_back("cannot list " + _dir.string() + ": " + ec.message());
    if (std::erase_if(_files, [&](const auto& kv) { return !seen.contains(kv.first); }) > 0) _dirty = true;
    return out;
}

file_manifest mirror_index::manifest() const {
    file_manifest m;
    for (const auto& [path, f] : _files) m.put(f.entry);
    return m;
}

void mirror_index::put(const file_entry& e) {
    _dirty = true;
    local_file f;
    f.entry = e;
    if (!stat_into(e.path, f)) {
        _files.erase(e.path);
        return;
    }
    f.entry.size = e.size;
    _files[e.path] = std::move(f);
}

void mirror_index::relabel(const file_entry& e) {
    auto it = _files.find(e.path);
    if (it == _files.end()) return;
    _dirty = true;
    it->second.entry.hash = e.hash;
    it->second.entry.xxh = e.xxh;
    it->second.entry.epoch = e.epoch;
    it->second.entry.seq = e.seq;
}

void mirror_index::remove(const std::string& path) {
    if (_files.erase(path) > 0) _dirty = true;
}

}  // namespace starbus::client_detail
