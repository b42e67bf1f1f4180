// File: fast_hash.hpp
// The non-cryptographic hashes of file sync, both XXH3 (libxxhash): a 64-bit
// checksum of every chunk on the wire, so that a chunk damaged on its way is
// noticed and fetched again on its own; and the 128-bit XXH3 of a whole file,
// which a receiver checks before it installs a download and which a mirror
// uses to notice that a local file changed. They run at memory speed (about
// 10-20 GB/s here), where SHA-256 (content_hash.hpp, the file's identity and
// the store's integrity check) runs at about 1 GB/s: docs/protocol.md
// "Hashes" gives the measurement behind this split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <starbus/wire/file_entry.hpp>

namespace starbus {


// XXH3-64 of one chunk, as carried by CHUNK.
[[nodiscard]] std::uint64_t chunk_checksum(const void* data, std::size_t size);

// Streaming XXH3-128 of a whole file. The result depends only on the bytes
// given, never on how they were split. Move-only: it owns the hash state.
class xxh128_hasher {
  public:
    xxh128_hasher();
    ~xxh128_hasher();
    xxh128_hasher(xxh128_hasher&&) noexcept;
    xxh128_hasher& operator=(xxh128_hasher&&) noexcept;
    xxh128_hasher(const xxh128_hasher&) = delete;
    xxh128_hasher& operator=(const xxh128_hasher&) = delete;

    void update(const void* data, std::size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    // The digest of everything given since construction or the last finish(),
    // as lowercase hex; the hasher then starts again from empty content.
    [[nodiscard]] std::string finish();

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

[[nodiscard]] std::string xxh128_bytes(std::string_view bytes);

// Both digests of a file, from one read of it (content_hash.hpp's block size).
struct file_digests {
    std::string sha256;       // lowercase hex (content_hash_hex_chars)
    std::string xxh128;       // lowercase hex (xxh128_hex_chars)
    std::uint64_t size = 0;   // bytes read
};

// Streams a regular file once through both hashes; nothing, with a reason in
// `why`, when it cannot be opened or read or is not a regular file. With
// `sha256` false only the XXH3-128 is computed (a mirror's change check).
[[nodiscard]] std::optional<file_digests> digest_file(const std::filesystem::path& path, bool sha256 = true,
                                                      std::string* why = nullptr);


}  // namespace starbus
