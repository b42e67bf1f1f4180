// File: file_entry.hpp
// A file as the wire and the change log carry it: the entry of one path
// (size, SHA-256, XXH3-128 and the position of the change that installed it),
// its metadata as a change's value, and the digests' text form. The manifest
// (files/file_manifest.hpp) is a set of these; the codec checks them. Plain
// data: types.hpp holds the MessagePack adaptors of file_entry and file_meta,
// so that the client's public headers may include this one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <starbus/wire/vocabulary.hpp>

namespace starbus {

// Length of a SHA-256 in lowercase hex (content_hash.hpp computes it): a version's identity.
inline constexpr std::size_t content_hash_hex_chars = 64;
// Length of an XXH3-128 in lowercase hex (fast_hash.hpp computes it): the receiver's quick check.
inline constexpr std::size_t xxh128_hex_chars = 32;

// True when `s` is `chars` lowercase hex digits.
[[nodiscard]] bool is_lower_hex(std::string_view s, std::size_t chars);

struct file_entry {
    std::string path;         // canonical remote path (normalise_remote_path)
    std::uint64_t size = 0;   // bytes
    std::string hash;         // SHA-256, lowercase hex (content_hash.hpp): the version's identity
    std::uint64_t epoch = 0;  // with seq: position of the change that installed this version
    std::uint64_t seq = 0;
    std::string xxh;          // XXH3-128, lowercase hex (fast_hash.hpp): the receiver's quick check

    [[nodiscard]] position pos() const { return {epoch, seq}; }
    // Same bytes, wherever and whenever they were installed: same size and the
    // same SHA-256, or, when one side knows only the XXH3-128 (a mirror that
    // re-read a local file), the same XXH3-128. An empty digest is never the
    // same content: it means "unknown", which must be fetched.
    [[nodiscard]] bool same_content(const file_entry& o) const {
        if (size != o.size) return false;
        if (!hash.empty() && !o.hash.empty()) return hash == o.hash;
        return !xxh.empty() && xxh == o.xxh;
    }
    friend bool operator==(const file_entry&, const file_entry&) = default;
};

// What a file_put change carries in its `value`: the version's size and
// digests, MessagePack [size, hash, xxh]. Its key is the path; its position
// is the change's.
struct file_meta {
    std::uint64_t size = 0;
    std::string hash;
    std::string xxh;
};

[[nodiscard]] std::string encode_file_meta(const file_meta& m);
// Nothing when `value` is not a well-formed file_meta (both digests lowercase
// hex of the right length).
[[nodiscard]] std::optional<file_meta> decode_file_meta(std::string_view value);
// The entry a file_put change installs, or nothing when its value is malformed.
[[nodiscard]] std::optional<file_entry> file_entry_of(const change& c);
// The file_put change that installs `e` (class config), for snapshots.
[[nodiscard]] change file_put_change(const file_entry& e);

// The set of files of one store, sorted by path (byte-wise), at most one entry
// per path.

}  // namespace starbus
