// File: file_store.hpp
// The content of the cluster's files in a broker's data directory, addressed
// by content: every version lives in objects/<first two hex digits>/<SHA-256>,
// whatever its remote path. The manifest (which path holds which version) is
// part of the replicated state (kv_state::files()); this store holds bytes.
//
// Why by content: a remote path never becomes a local path on a broker, so no
// name from the network can escape the directory; two paths with the same
// content share one copy; and a transfer names exactly the bytes it moves
// (a version replaced mid-transfer is simply another object).
//
//   objects/tmp/   files being received (deleted at start-up: a transfer that
//                  did not finish is fetched again)
//   objects/ab/abcd...  one complete, verified version
//
// Reads go through a small cache of open descriptors (serving many chunks of
// one file costs one open). Objects no manifest entry references any more are
// deleted by collect(), after the change that released them is on disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <starbus/files/file_manifest.hpp>
#include <starbus/files/unique_fd.hpp>

namespace starbus {

class file_store {
  public:
    // Opens (creating) `data_dir`/objects, empties its tmp/ and indexes the
    // objects present. Throws storage_error when the directory is unusable.
    explicit file_store(const std::filesystem::path& data_dir);

    [[nodiscard]] bool has(std::string_view hash) const { return _objects.contains(std::string(hash)); }
    [[nodiscard]] std::size_t object_count() const { return _objects.size(); }
    [[nodiscard]] std::filesystem::path object_path(std::string_view hash) const;
    // A fresh name in objects/tmp/ for a file being received.
    [[nodiscard]] std::filesystem::path temp_path(std::string_view hash);
    // The directory an object's final name lives in, created if needed.
    [[nodiscard]] bool prepare_directory(std::string_view hash, std::string* why);
    // A received object is now at object_path(hash).
    void installed(std::string_view hash, std::uint64_t size);

    // Reads [offset, offset + length) of object `hash` into `dst`. False, with
    // `why`, when the object is not held, the range is outside it, or the read fails.
    [[nodiscard]] bool read(std::string_view hash, std::uint64_t offset, std::uint64_t length, char* dst,
                            std::string* why);
    // The size of an object held, or nothing.
    [[nodiscard]] std::optional<std::uint64_t> size_of(std::string_view hash) const;

    // Deletes the objects among `candidates` that `manifest` no longer
    // references and `keep` does not name (e.g. a transfer in progress).
    // Returns how many were deleted.
    std::size_t collect(const std::vector<std::string>& candidates, const file_manifest& manifest,
                        const std::vector<std::string>& keep = {});
    // Deletes every object the manifest does not reference (after a full snapshot).
    std::size_t collect_all(const file_manifest& manifest, const std::vector<std::string>& keep = {});
    // The manifest entries whose object is missing (a damaged or partial store).
    [[nodiscard]] std::vector<file_entry> missing(const file_manifest& manifest) const;

    // Bytes free for this store on its file system (statvfs), or nothing.
    [[nodiscard]] std::optional<std::uint64_t> free_bytes() const;
    [[nodiscard]] const std::filesystem::path& directory() const { return _dir; }

  private:
    [[nodiscard]] int open_cached(const std::string& hash);
    void close_cached(const std::string& hash);
    void remove_object(const std::string& hash);

    std::filesystem::path _dir;  // .../objects
    std::filesystem::path _tmp;  // .../objects/tmp
    std::unordered_map<std::string, std::uint64_t> _objects;  // hash -> size
    std::uint64_t _temp_counter = 0;
    // Open descriptors for reads, most recently used first.
    std::list<std::pair<std::string, unique_fd>> _open;
    std::unordered_map<std::string, std::list<std::pair<std::string, unique_fd>>::iterator> _open_index;
};

}  // namespace starbus
