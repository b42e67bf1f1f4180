// File: file_transfers.cpp
// Downloads and uploads of the client session (file_transfers.hpp).
#include "file_transfers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <starbus/wire/codec.hpp>
#include <starbus/files/fast_hash.hpp>

namespace starbus::client_detail {

file_transfers::file_transfers(const fetch_settings& settings, std::function<std::uint64_t()> next_request_id)
    : _downloads(settings, std::move(next_request_id)) {}

std::vector<std::string> file_transfers::orders() {
    std::vector<std::string> out;
    while (auto o = _downloads.next_order()) out.push_back(encode(o->request));
    return out;
}

bool file_transfers::offer(const file_entry& entry, const std::filesystem::path& local, std::string* why) {
    unique_fd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (why) *why = "cannot read " + local.string() + ": " + (fd ? "not a regular file" : std::strerror(errno));
        return false;
    }
    _offered[{entry.path, entry.hash}] = offered{entry, std::move(fd), 0};
    return true;
}

void file_transfers::withdraw(const std::string& path, const std::string& hash) { _offered.erase({path, hash}); }

std::uint64_t file_transfers::served(const std::string& path, const std::string& hash) const {
    auto it = _offered.find({path, hash});
    return it == _offered.end() ? 0 : it->second.served;
}

zmq::message_t file_transfers::serve(const fetch_request& r) {
    const auto refuse = [&](std::string text) {
        error_reply e;
        e.request_id = r.request_id;
        e.code_value = error_code::stale_version;
        e.text = std::move(text);
        return encode_frame(e);
    };
    auto it = _offered.find({r.path, r.hash});
    if (it == _offered.end()) return refuse("this client no longer offers that version of " + r.path);
    offered& o = it->second;
    if (r.offset > o.entry.size || r.length > o.entry.size - r.offset)
        return refuse("bytes outside " + r.path + " were asked for");
    const file_chunk_view header{r.request_id, r.path, r.hash, r.offset, 0, {}};
    auto frame = encode_chunk_frame(header, r.length, [&](char* dst) -> std::optional<std::uint64_t> {
        std::uint64_t done = 0;
        while (done < r.length) {
            const ssize_t n =
                ::pread(o.fd.get(), dst + done, r.length - done, static_cast<off_t>(r.offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return std::nullopt;  // the file shrank or cannot be read: the upload cannot succeed
            done += static_cast<std::uint64_t>(n);
        }
        return chunk_checksum(dst, r.length);
    });
    if (!frame) return refuse("this client cannot read its file " + r.path + " any more");
    o.served = std::max(o.served, r.offset + r.length);
    return std::move(*frame);
}

}  // namespace starbus::client_detail
