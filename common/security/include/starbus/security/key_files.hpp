// File: key_files.hpp
// CURVE key pairs and the files that hold them: NAME.key (public and secret
// key, mode 0600) and NAME.pub (public key only), both in CZMQ's zcert text
// format (ZPL: a "curve" section with public-key and secret-key), so that
// czmq's zcert_load and other ZeroMQ tooling read them. Keys are Z85 text
// (40 characters for 32 bytes).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace starbus {

struct curve_key_pair {
    std::string public_key;  // Z85, 40 characters
    std::string secret_key;  // Z85, 40 characters; empty for a public certificate
    [[nodiscard]] bool empty() const { return public_key.empty(); }
};

// A key file that cannot be read, written or used: the message names the
// file and what to do.
class key_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A fresh key pair from libzmq's CURVE implementation (libsodium's random source).
[[nodiscard]] curve_key_pair generate_curve_key_pair();

// The public key that belongs to `secret_z85`; throws key_error when it is not a key.
[[nodiscard]] std::string public_key_of(const std::string& secret_z85);

// Writes DIR/NAME.key (mode 0600, public and secret key) and DIR/NAME.pub
// (public key), each through a temporary file and a rename. Refuses to
// replace an existing file unless `replace`. Returns the two paths.
struct written_key_files {
    std::filesystem::path secret;
    std::filesystem::path pub;
};
written_key_files write_key_files(const std::filesystem::path& dir, const std::string& name,
                                  const curve_key_pair& keys, bool replace);

// Reads a .key file: both keys, checked to belong together. Throws key_error.
[[nodiscard]] curve_key_pair load_secret_key_file(const std::filesystem::path& path);
// Reads the public key of a .pub (or .key) file; a file holding only a bare
// 40-character Z85 key is accepted too. Throws key_error.
[[nodiscard]] std::string load_public_key_file(const std::filesystem::path& path);
// Whether group or others may read `path` (a secret key should be 0600).
[[nodiscard]] bool readable_by_others(const std::filesystem::path& path);

}  // namespace starbus
