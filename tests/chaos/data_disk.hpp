// File: data_disk.hpp
// A broker's data disk in a chaos run: a small tmpfs of its own, mounted by
// the harness, so that the "disk full" fault fills one broker's disk and
// nothing else. Filling writes a ballast file until the file system says
// ENOSPC; healing deletes it. The destructor unmounts (lazily, should a
// process still hold a file there).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace starbus::chaos {

class data_disk {
  public:
    // Mounts a tmpfs of `size_mb` at `mount_point` (created), with `source`
    // as its device name ("sbc-<pid>-A": what sweep_leftovers() looks for).
    // Throws harness_error when it cannot.
    data_disk(std::filesystem::path mount_point, const std::string& source, std::uint64_t size_mb);
    ~data_disk();
    data_disk(const data_disk&) = delete;
    data_disk& operator=(const data_disk&) = delete;

    // Where the broker keeps its data: a directory on the tmpfs.
    [[nodiscard]] std::filesystem::path data_dir() const { return _mount / "data"; }
    // Fills the disk; returns the bytes of ballast written.
    std::uint64_t fill();
    // Removes the ballast.
    void drain();
    [[nodiscard]] bool full() const { return _full; }
    // Bytes free, as statvfs reports them.
    [[nodiscard]] std::uint64_t free_bytes() const;

  private:
    std::filesystem::path _mount;
    bool _mounted = false;
    bool _full = false;
};

}  // namespace starbus::chaos
