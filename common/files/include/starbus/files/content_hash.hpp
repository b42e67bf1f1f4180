// File: content_hash.hpp
// The content hash of file sync: what identifies a version of a file in the
// manifest and in a broker's store, checked by the server on every upload and
// by every replica on every fetch (clients check XXH3, fast_hash.hpp). SHA-256
// (FIPS 180-4), chosen by measurement (docs/protocol.md "Hashes"): the fastest
// cryptographic hash on the build machine (about 1 GiB/s with the SHA
// extensions, through OpenSSL's libcrypto), and the same digest `sha256sum`
// prints, so an operator can check a file by hand.
//
// The algorithm stays behind this header. The implementation needs libcrypto,
// which the build enables with STARBUS_HAVE_OPENSSL_CRYPTO (the top-level
// CMakeLists.txt requires OpenSSL); without it the library still builds,
// content_hash_available() is false and constructing a hasher throws, saying
// what to install.
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

// Names the algorithm where a manifest or a log shows a hash.
inline constexpr std::string_view content_hash_algorithm = "sha256";
// Bytes hash_file() reads at a time: its whole memory use, whatever the file size.
inline constexpr std::size_t content_hash_block_bytes = 256 * 1024;

// Whether this build can hash (linked with libcrypto).
[[nodiscard]] bool content_hash_available();

// An incremental hasher: update() any number of times with consecutive pieces
// of the content, then finish(). The result depends only on the concatenation,
// never on how it was split. Move-only: it owns the digest state.
class content_hasher {
  public:
    // Throws std::runtime_error when the build has no hash implementation.
    content_hasher();
    ~content_hasher();
    content_hasher(content_hasher&&) noexcept;
    content_hasher& operator=(content_hasher&&) noexcept;
    content_hasher(const content_hasher&) = delete;
    content_hasher& operator=(const content_hasher&) = delete;

    void update(const void* data, std::size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

    // The digest of everything given since construction or the last finish(),
    // as lowercase hex; the hasher then starts again from empty content.
    [[nodiscard]] std::string finish();

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

// The digest of one buffer.
[[nodiscard]] std::string hash_bytes(std::string_view bytes);

// What hash_file() found.
struct file_digest {
    std::string hash;         // lowercase hex, content_hash_hex_chars long
    std::uint64_t size = 0;   // bytes read, which is the file's size when it did not change meanwhile
};

// Streams a regular file through a hasher in blocks of content_hash_block_bytes,
// so memory use does not depend on the file size. Returns nothing, with a
// reason in `why`, when the file cannot be opened or read or is not a regular
// file (a fifo would block, a device never ends).
[[nodiscard]] std::optional<file_digest> hash_file(const std::filesystem::path& path, std::string* why = nullptr);

}  // namespace starbus
