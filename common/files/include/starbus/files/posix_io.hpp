// File: posix_io.hpp
// The few POSIX file operations every on-disk part of starbus needs, written
// once: opening with O_CLOEXEC, whole reads and writes that survive EINTR and
// short transfers, the fsync family, and the crash-safe replacement of a file
// (write a temporary, fsync it, rename it over the old one, fsync the
// directory). The durable store, the reconciler's orphans file, the file
// store and file installation all use these, so a fix to one (a forgotten
// EINTR, a missing directory fsync) is a fix to all. CRC-32C, the checksum of
// the durable store's formats, comes with it (crc32c.hpp).
//
// Errors: the primitives return errno (0 on success) so that callers choose
// between throwing and reporting; atomic_replace() throws storage_error with a
// message that names the path, the step that failed and what to do next.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <starbus/files/crc32c.hpp>  // the checksum of what these files hold
#include <starbus/files/unique_fd.hpp>

namespace starbus {

// A setup or I/O failure of a file starbus keeps on disk (a data directory,
// its files): the message names the file and says what to do next ("data
// directory /x is not writable: check its permissions or choose another
// --data-dir").
class storage_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// strerror(e), as a string.
[[nodiscard]] std::string errno_text(int e);
// Throws storage_error "WHAT: strerror(e)ADVICE" (the advice says what the operator can do).
[[noreturn]] void throw_storage_error(const std::string& what, int e, std::string_view advice);

// open(2) with O_CLOEXEC added, retried on EINTR. An invalid result leaves the
// reason in errno.
[[nodiscard]] unique_fd open_file(const std::filesystem::path& path, int flags, mode_t mode = 0644);

// Writes all of `data` at `offset`, going on after short writes and EINTR.
// Returns 0, or the errno of the write that failed (EIO when the kernel wrote
// nothing without saying why).
[[nodiscard]] int write_all_at(int fd, const void* data, std::size_t size, std::uint64_t offset);

// Writes all of `data` at the descriptor's position (also to pipes and
// sockets), going on after short writes and EINTR. Returns 0 or errno.
[[nodiscard]] int write_all(int fd, const void* data, std::size_t size);

// Reads `size` bytes at `offset`, going on after short reads and EINTR.
// Returns how many bytes were read (fewer than `size` only at the end of the
// file), or -errno.
[[nodiscard]] ssize_t read_full_at(int fd, void* data, std::size_t size, std::uint64_t offset);

// fsync(2) and fdatasync(2): 0 or errno. Not retried: after a failed sync the
// kernel may have dropped the dirty pages, so a retry could report success for
// data that is not on disk; the caller must treat the file as uncertain.
[[nodiscard]] int sync_all(int fd);
[[nodiscard]] int sync_data(int fd);

// syncfs(2): flushes the whole file system holding `fd` (cheaper than one
// fdatasync per file for a batch of many small files). 0 or errno.
[[nodiscard]] int sync_file_system(int fd);

// Makes the entries of `dir` durable (a rename or a new file in it is only
// durable once its directory is): opens it and fsyncs it. 0 or errno.
[[nodiscard]] int sync_directory(const std::filesystem::path& dir);

// The temporary name atomic_replace() writes before the rename: `target`.tmp.
[[nodiscard]] std::filesystem::path temp_path_of(const std::filesystem::path& target);

// Replaces `target` whole and atomically, so that a crash at any moment leaves
// the old content or the new one, never a mix: creates target.tmp, lets `fill`
// write it (fill gets the descriptor, open read-write, and may throw), fsyncs
// it, renames it over `target` and fsyncs the directory. On any failure the
// temporary is removed, `target` is untouched (except when only the final
// directory fsync failed: then the rename happened but may not be durable) and
// storage_error says which step failed on which path, followed by `advice`
// (": check free space and the disk, then restart the broker"). Returns the
// descriptor of the new file, for callers that keep using it. The new file is
// created with `mode` (less the umask): 0600 for a secret, never readable by
// others even for a moment.
unique_fd atomic_replace(const std::filesystem::path& target, const std::function<void(int fd)>& fill,
                         std::string_view advice, mode_t mode = 0644);

// The same, writing `bytes` as the whole content.
unique_fd atomic_replace(const std::filesystem::path& target, std::string_view bytes, std::string_view advice);

}  // namespace starbus
