// File: file_manifest.cpp
// The sorted manifest of a file store and the diff between two of them.
#include <starbus/files/file_manifest.hpp>

#include <algorithm>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

namespace starbus {

std::optional<file_manifest> file_manifest::from_entries(std::vector<file_entry> entries, std::string* why) {
    file_manifest m;
    for (auto& e : entries) {
        if (m._entries.contains(e.path)) {
            if (why) *why = "duplicate path in manifest: " + e.path;
            return std::nullopt;
        }
        m.put(std::move(e));
    }
    return m;
}

bool file_manifest::put(file_entry e) {
    count(e.hash, +1);
    auto it = _entries.find(e.path);
    if (it != _entries.end()) {
        count(it->second.hash, -1);
        _total_bytes -= it->second.size;
        _total_bytes += e.size;
        it->second = std::move(e);
        return false;
    }
    _total_bytes += e.size;
    std::string key = e.path;
    _entries.emplace(std::move(key), std::move(e));
    return true;
}

bool file_manifest::remove(std::string_view path) {
    auto it = _entries.find(path);
    if (it == _entries.end()) return false;
    count(it->second.hash, -1);
    _total_bytes -= it->second.size;
    _entries.erase(it);
    return true;
}

void file_manifest::count(const std::string& hash, int delta) {
    if (hash.empty()) return;
    if (delta > 0) {
        ++_references[hash];
        return;
    }
    auto it = _references.find(hash);
    if (it != _references.end() && --it->second == 0) _references.erase(it);
}

std::size_t file_manifest::references(std::string_view hash) const {
    auto it = _references.find(hash);
    return it == _references.end() ? 0 : it->second;
}

const file_entry* file_manifest::find(std::string_view path) const {
    auto it = _entries.find(path);
    return it == _entries.end() ? nullptr : &it->second;
}

std::vector<file_entry> file_manifest::entries() const {
    std::vector<file_entry> out;
    out.reserve(_entries.size());
    for (const auto& [path, e] : _entries) out.push_back(e);
    return out;
}

manifest_diff diff(const file_manifest& local, const file_manifest& remote) {
    manifest_diff d;
    auto l = local.begin();
    auto r = remote.begin();
    const auto fetch = [&d](const file_entry& e) {
        d.to_fetch.push_back(e);
        d.bytes_to_fetch += e.size;
    };
    // Both sides are sorted by path: one merge walk.
    while (l != local.end() || r != remote.end()) {
        if (r == remote.end() || (l != local.end() && l->first < r->first)) {
            d.to_delete.push_back(l->first);
            ++l;
        } else if (l == local.end() || r->first < l->first) {
            fetch(r->second);
            ++r;
        } else {
            if (!l->second.same_content(r->second))
                fetch(r->second);
            else if (l->second.pos() != r->second.pos())
                d.to_relabel.push_back(r->second);
            ++l;
            ++r;
        }
    }
    return d;
}

}  // namespace starbus
