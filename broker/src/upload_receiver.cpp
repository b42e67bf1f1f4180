// File: upload_receiver.cpp
// Uploads received by the serving broker (upload_receiver.hpp).
#include "upload_receiver.hpp"

namespace starbus {
namespace {

fetch_settings upload_settings(const file_settings& files) {
    fetch_settings s;
    s.chunk_bytes = files.chunk_bytes;
    s.credit_bytes = files.credit_bytes;
    s.verify_sha256 = true;  // what enters the store is checked against its identity, always
    // Two whole passes, not a download's three: the only source is the client's own file, and a second pass
    // that still differs from the digests (every chunk checksum having matched) says the file or the digests
    // are wrong, which a third pass would not change (protocol.md "Checks").
    s.max_attempts = 2;
    return s;
}

}  // namespace

upload_receiver::upload_receiver(const file_settings& files, std::function<std::uint64_t()> next_request_id)
    : _queue(upload_settings(files), std::move(next_request_id)) {}

void upload_receiver::start(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
                            const file_entry& entry, std::filesystem::path temp_path, steady_time now) {
    const std::uint64_t tag = ++_last_tag;
    _uploads[tag] = upload{identity, client_id, request_id, entry, now};
    _by_request[{client_id, request_id}] = tag;
    _queue.add(entry, std::move(temp_path), tag);
}

upload* upload_receiver::find(std::uint64_t client_id, std::uint64_t request_id) {
    auto it = _by_request.find({client_id, request_id});
    if (it == _by_request.end()) return nullptr;
    auto u = _uploads.find(it->second);
    return u == _uploads.end() ? nullptr : &u->second;
}

void upload_receiver::resume(upload& u, const std::string& identity) {
    // Chunks asked of the old connection will not come: ask again, from where the file stopped.
    u.identity = identity;
    _queue.restart();
}

std::vector<std::pair<std::string, fetch_request>> upload_receiver::orders() {
    std::vector<std::pair<std::string, fetch_request>> out;
    while (auto o = _queue.next_order()) {
        auto u = _uploads.find(o->tag);
        if (u == _uploads.end()) continue;
        out.emplace_back(u->second.identity, std::move(o->request));
    }
    return out;
}

chunk_outcome upload_receiver::on_chunk(const std::string& identity, const file_chunk_view& c, steady_time now) {
    const chunk_outcome r = _queue.on_chunk(c);
    if (r == chunk_outcome::accepted)
        for (auto& [tag, u] : _uploads)
            if (u.identity == identity && u.entry.path == c.path) u.last_progress = now;
    return r;
}

bool upload_receiver::on_error(std::uint64_t request_id) { return _queue.on_stale(request_id).has_value(); }

std::vector<upload_receiver::finished> upload_receiver::take_finished() {
    std::vector<finished> out;
    const auto take = [&](std::uint64_t tag) -> std::optional<upload> {
        auto it = _uploads.find(tag);
        if (it == _uploads.end()) return std::nullopt;
        upload u = std::move(it->second);
        _uploads.erase(it);
        _by_request.erase({u.client_id, u.request_id});
        return u;
    };
    for (auto& f : _queue.take_completed())
        if (auto u = take(f.tag)) out.push_back({std::move(*u), std::move(f), {}, false});
    for (auto& f : _queue.take_failed())
        if (auto u = take(f.tag)) out.push_back({std::move(*u), std::nullopt, f.reason, f.stale, f.content_mismatch});
    return out;
}

std::vector<upload> upload_receiver::expire(steady_time now, std::chrono::milliseconds idle) {
    std::vector<upload> dropped;
    std::vector<std::uint64_t> tags;
    for (const auto& [tag, u] : _uploads)
        if (now - u.last_progress > idle) tags.push_back(tag);
    for (auto tag : tags) {
        _queue.cancel(tag);
        dropped.push_back(std::move(_uploads[tag]));
        _by_request.erase({dropped.back().client_id, dropped.back().request_id});
        _uploads.erase(tag);
    }
    return dropped;
}

void upload_receiver::clear() {
    _queue.clear();
    _uploads.clear();
    _by_request.clear();
}

std::vector<std::string> upload_receiver::hashes() const {
    std::vector<std::string> out;
    for (const auto& [tag, u] : _uploads) out.push_back(u.entry.hash);
    return out;
}

}  // namespace starbus
