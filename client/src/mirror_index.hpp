// File: mirror_index.hpp
// What a mirror directory holds, file by file: the version of each (size and
// digests, and the cluster position it was fetched at) and the stat data it
// had then (size, mtime, inode). A scan compares the stat data with the disk
// and re-reads (XXH3-128 only: fast) just the files that changed, so that the
// pass after a failover costs one stat per file, not one read. Kept in
// DIR/.starbus-mirror (MessagePack; replaced whole: temporary file, rename).
// A building block of starbus::file_mirror.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <starbus/files/file_manifest.hpp>
#include <starbus/wire/types.hpp>  // the MessagePack adaptor of file_entry

namespace starbus::client_detail {

// Names of the mirror's own files in its directory.
inline constexpr const char* mirror_index_name = ".starbus-mirror";
inline constexpr const char* mirror_temp_dir = ".starbus-tmp";

class mirror_index {
  public:
    explicit mirror_index(std::filesystem::path dir);

    // Reads the index file. False (and an empty index) when there is none or it
    // cannot be read; `why` says which.
    bool load(std::string* why = nullptr);
    // Writes it (temporary file, rename) when it changed since it was last
    // loaded or saved. False, with `why`, on failure.
    bool save(std::string* why = nullptr);

    struct scan_result {
        std::size_t rehashed = 0;          // files read again because their stat changed (or were new)
        std::vector<std::string> strays;   // relative names that cannot be remote paths (to delete)
        std::vector<std::string> errors;   // files that could not be read
    };
    // Brings the index in line with the directory (see the file comment).
    scan_result scan();

    // The index as a manifest (entries without a SHA-256 are compared by XXH3-128).
    [[nodiscard]] file_manifest manifest() const;
    // A file now holds version `e` (just installed), with the stat data it has on disk.
    void put(const file_entry& e);
    // Same content, another position: record the cluster's entry.
    void relabel(const file_entry& e);
    void remove(const std::string& path);
    [[nodiscard]] std::size_t size() const { return _files.size(); }

  private:
    struct local_file {
        file_entry entry;
        std::uint64_t mtime_ns = 0;
        std::uint64_t inode = 0;
        MSGPACK_DEFINE(entry, mtime_ns, inode)
    };
    bool stat_into(const std::string& path, local_file& f) const;

    std::filesystem::path _dir;
    std::map<std::string, local_file> _files;  // by remote path
    bool _dirty = true;                        // changed since loaded or saved
};

}  // namespace starbus::client_detail
