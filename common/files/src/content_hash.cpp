// File: content_hash.cpp
// SHA-256 content hashing over OpenSSL's libcrypto (EVP interface), and the
// streaming reader of hash_file(). See content_hash.hpp for the choice.
#include <starbus/files/content_hash.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <starbus/files/unique_fd.hpp>

#if defined(STARBUS_HAVE_OPENSSL_CRYPTO)
#include <openssl/evp.h>
#endif

namespace starbus {


#if defined(STARBUS_HAVE_OPENSSL_CRYPTO)

namespace {

std::string to_hex(const unsigned char* digest, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(size * 2, '0');
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0x0F];
    }
    return out;
}

}  // namespace

struct content_hasher::impl {
    struct ctx_free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, ctx_free> ctx{EVP_MD_CTX_new()};

    // Failures here are allocation failures inside libcrypto, not bad input.
    void start() {
        if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("libcrypto could not start a SHA-256 digest (out of memory?)");
    }
};

bool content_hash_available() { return true; }

content_hasher::content_hasher() : _impl(std::make_unique<impl>()) { _impl->start(); }

void content_hasher::update(const void* data, std::size_t size) {
    if (size == 0) return;
    if (EVP_DigestUpdate(_impl->ctx.get(), data, size) != 1)
        throw std::runtime_error("libcrypto failed to update a SHA-256 digest");
}

std::string content_hasher::finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(_impl->ctx.get(), digest, &size) != 1)
        throw std::runtime_error("libcrypto failed to finish a SHA-256 digest");
    _impl->start();
    return to_hex(digest, size);
}

#else

struct content_hasher::impl {};

bool content_hash_available() { return false; }

content_hasher::content_hasher() {
    throw std::runtime_error(
        "starbus was built without a content hash: install libssl-dev and build with OpenSSL::Crypto "
        "and STARBUS_HAVE_OPENSSL_CRYPTO (docs/protocol.md \"Hashes\")");
}

void content_hasher::update(const void*, std::size_t) {}

std::string content_hasher::finish() { return {}; }

#endif

content_hasher::~content_hasher() = default;
content_hasher::content_hasher(content_hasher&&) noexcept = default;
content_hasher& content_hasher::operator=(content_hasher&&) noexcept = default;

std::string hash_bytes(std::string_view bytes) {
    content_hasher h;
    h.update(bytes);
    return h.finish();
}

std::optional<file_digest> hash_file(const std::filesystem::path& path, std::string* why) {
    const auto fail = [&](const std::string& what) -> std::optional<file_digest> {
        if (why) *why = what + " " + path.string() + ": " + std::strerror(errno);
        return std::nullopt;
    };
    // O_NONBLOCK so that opening a fifo does not wait for a writer; fstat then refuses it.
    const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return fail("cannot open");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail("cannot stat");
    if (!S_ISREG(st.st_mode)) {
        if (why) *why = path.string() + " is not a regular file";
        return std::nullopt;
    }

    content_hasher hasher;
    std::vector<char> block(content_hash_block_bytes);
    file_digest out;
    while (true) {
        const ssize_t n = ::read(fd.get(), block.data(), block.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("cannot read");
        if (n == 0) break;
        hasher.update(block.data(), static_cast<std::size_t>(n));
        out.size += static_cast<std::uint64_t>(n);
    }
    out.hash = hasher.finish();
    return out;
}

}  // namespace starbus
