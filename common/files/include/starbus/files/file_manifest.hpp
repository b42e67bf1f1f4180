// File: file_manifest.hpp
// The manifest of a file store or a mirror: one entry per file with
// its size, content hash and the position of the change that installed it, kept
// sorted by path; and the diff that tells a mirror or a returning primary which
// files to fetch and which to delete. Pure data: no disk, no sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <starbus/wire/file_entry.hpp>

namespace starbus {

// One file version, as listed by `starbus ls` and sent in manifests.
class file_manifest {
  public:
    file_manifest() = default;

    // Builds a manifest from a list that came from the network or a file.
    // Returns nothing, with a reason in `why`, when two entries share a path:
    // which one to believe is not ours to guess.
    [[nodiscard]] static std::optional<file_manifest> from_entries(std::vector<file_entry> entries,
                                                                   std::string* why = nullptr);

    // Adds the entry, or replaces the entry of the same path. Returns true when
    // the path is new.
    bool put(file_entry e);
    // Removes the entry of `path`. Returns false when there was none.
    bool remove(std::string_view path);

    [[nodiscard]] const file_entry* find(std::string_view path) const;
    [[nodiscard]] std::size_t size() const { return _entries.size(); }
    [[nodiscard]] bool empty() const { return _entries.empty(); }
    // Sum of the sizes of all entries.
    [[nodiscard]] std::uint64_t total_bytes() const { return _total_bytes; }
    // How many entries have content `hash` (several paths may share one
    // version): 0 means a store may delete that content.
    [[nodiscard]] std::size_t references(std::string_view hash) const;

    // The entries in path order, for `ls`, for the wire and for tests.
    [[nodiscard]] std::vector<file_entry> entries() const;

    // Iteration in path order without copying.
    using map_type = std::map<std::string, file_entry, std::less<>>;
    [[nodiscard]] map_type::const_iterator begin() const { return _entries.begin(); }
    [[nodiscard]] map_type::const_iterator end() const { return _entries.end(); }
    // The first entry whose path is `from` or after it.
    [[nodiscard]] map_type::const_iterator lower_bound(std::string_view from) const { return _entries.lower_bound(from); }

    friend bool operator==(const file_manifest& a, const file_manifest& b) { return a._entries == b._entries; }

  private:
    void count(const std::string& hash, int delta);

    map_type _entries;
    std::uint64_t _total_bytes = 0;
    std::map<std::string, std::size_t, std::less<>> _references;  // hash -> entries holding it
};

// What it takes to make a local store identical to a remote one.
struct manifest_diff {
    std::vector<file_entry> to_fetch;    // remote entries whose content the local side lacks, in path order
    std::vector<std::string> to_delete;  // local paths absent remotely, in path order
    std::vector<file_entry> to_relabel;  // same content, other position: record the remote entry, fetch nothing
    std::uint64_t bytes_to_fetch = 0;    // sum of to_fetch sizes (the `pending` bytes of `status`)

    [[nodiscard]] bool in_sync() const { return to_fetch.empty() && to_delete.empty(); }
};

// Compares by path, then by content (size and hash): a file is fetched when its
// path is new or its content differs, never because of its position alone.
// Linear in the size of both manifests (one merge walk).
[[nodiscard]] manifest_diff diff(const file_manifest& local, const file_manifest& remote);

}  // namespace starbus
