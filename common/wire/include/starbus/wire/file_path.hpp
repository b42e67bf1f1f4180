// File: file_path.hpp
// Remote file paths for file sync: the one canonical spelling of a
// path that a client may name, and its confinement under a store or mirror
// directory. A remote path comes from the network or a user, so every check
// here reports a refusal as a value with a reason, never asserts or throws.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace starbus {

namespace file_limits {
// Bytes of a whole remote path, before and after normalisation.
inline constexpr std::size_t max_path_bytes = 1024;
// Bytes of one component (the common NAME_MAX of Linux file systems).
inline constexpr std::size_t max_component_bytes = 255;
// Components in a path ("a/b/c" has depth 3).
inline constexpr std::size_t max_depth = 32;
// Components starting with this (in any letter case) belong to the store itself:
// temporary files, manifests, locks.
inline constexpr std::string_view reserved_prefix = ".starbus";
}  // namespace file_limits

// Returns the canonical form of a remote path, or nothing and a reason in `why`
// (when given). The canonical form is relative, '/'-separated, without empty or
// "." components and without a trailing '/'; "a//b" and "./a/./b" become "a/b".
// Refused: an empty result, an absolute path, any ".." component, a trailing '/'
// (it names a directory), a backslash, a drive prefix ("C:"), NUL and control
// characters (C0, DEL and C1), invalid UTF-8 (overlong, surrogates, beyond
// U+10FFFF), a reserved component (file_limits::reserved_prefix), and anything
// beyond the limits in file_limits.
[[nodiscard]] std::optional<std::string> normalise_remote_path(std::string_view raw, std::string* why = nullptr);

// The on-disk location of a canonical remote path under `base_dir`, or nothing
// and a reason. Refused when `normalised` is not canonical (see above), when
// `base_dir` is not a directory, when an existing intermediate component is a
// symlink or not a directory, or when the final component exists and is a
// symlink or not a regular file (a directory, device, fifo or socket). Missing
// components are fine: the caller is about to create them. `base_dir` itself may
// be a symlink (it is the operator's choice, not the peer's).
//
// This is a check, not a lock: a local process could swap a component for a
// symlink afterwards. The store should open with O_NOFOLLOW (or openat from a
// directory fd) as well.
[[nodiscard]] std::optional<std::filesystem::path> confine(const std::filesystem::path& base_dir,
                                                           std::string_view normalised, std::string* why = nullptr);

}  // namespace starbus
