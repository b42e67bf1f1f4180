// File: fast_hash.cpp
// XXH3 chunk checksums and whole-file XXH3-128 (fast_hash.hpp), and the
// one-pass reader that computes both file digests. libxxhash is used
// header-only (XXH_INLINE_ALL): nothing to link, and the compiler can inline
// the hot loop.
#include <starbus/files/fast_hash.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/unique_fd.hpp>

namespace starbus {

std::uint64_t chunk_checksum(const void* data, std::size_t size) { return XXH3_64bits(data, size); }

struct xxh128_hasher::impl {
    struct state_free {
        void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
    };
    std::unique_ptr<XXH3_state_t, state_free> state{XXH3_createState()};

    void start() {
        if (!state || XXH3_128bits_reset(state.get()) != XXH_OK)
            throw std::runtime_error("cannot allocate an XXH3 hash state (out of memory?)");
    }
};

xxh128_hasher::xxh128_hasher() : _impl(std::make_unique<impl>()) { _impl->start(); }
xxh128_hasher::~xxh128_hasher() = default;
xxh128_hasher::xxh128_hasher(xxh128_hasher&&) noexcept = default;
xxh128_hasher& xxh128_hasher::operator=(xxh128_hasher&&) noexcept = default;

void xxh128_hasher::update(const void* data, std::size_t size) {
    if (size > 0) XXH3_128bits_update(_impl->state.get(), data, size);
}

std::string xxh128_hasher::finish() {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(_impl->state.get()));
    _impl->start();
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(xxh128_hex_chars, '0');
    for (std::size_t i = 0; i < sizeof canonical.digest; ++i) {
        out[2 * i] = digits[canonical.digest[i] >> 4];
        out[2 * i + 1] = digits[canonical.digest[i] & 0x0F];
    }
    return out;
}

std::string xxh128_bytes(std::string_view bytes) {
    xxh128_hasher h;
    h.update(bytes);
    return h.finish();
}

std::optional<file_digests> digest_file(const std::filesystem::path& path, bool sha256, std::string* why) {
    const auto fail = [&](const std::string& what) -> std::optional<file_digests> {
        if (why) *why = what + " " + path.string() + ": " + std::strerror(errno);
        return std::nullopt;
    };
    // O_NONBLOCK so that opening a fifo does not wait for a writer; fstat then refuses it.
    const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return fail("cannot open");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail("cannot stat");
    if (!S_ISREG(st.st_mode)) {
        if (why) *why = path.string() + " is not a regular file";
        return std::nullopt;
    }
    std::optional<content_hasher> strong;
    if (sha256) strong.emplace();
    xxh128_hasher fast;
    std::vector<char> block(content_hash_block_bytes);
    file_digests out;
    while (true) {
        const ssize_t n = ::read(fd.get(), block.data(), block.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("cannot read");
        if (n == 0) break;
        if (strong) strong->update(block.data(), static_cast<std::size_t>(n));
        fast.update(block.data(), static_cast<std::size_t>(n));
        out.size += static_cast<std::uint64_t>(n);
    }
    if (strong) out.sha256 = strong->finish();
    out.xxh128 = fast.finish();
    return out;
}

}  // namespace starbus
