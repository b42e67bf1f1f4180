// File: file_service.cpp
// The broker's file commands (docs/protocol.md "File transfer"): the manifest
// in pages, chunks read from the store straight into their frames, uploads
// received from clients and turned into file changes once verified and on
// disk, the installer's results for both the server and the replica role,
// and the collection of versions no file refers to any more.
#include "file_service.hpp"

#include <starbus/files/fast_hash.hpp>
#include <starbus/wire/request_changes.hpp>

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

// Space an upload must leave free on the data directory's file system, so
// that the change log can still be written.
constexpr std::uint64_t reserved_free_bytes = 64ull << 20;
// Uploads received at once; more are answered RETRY_LATER (the client retries with jitter).
constexpr std::size_t max_concurrent_uploads = 32;

std::string mib(std::uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

file_service::file_service(file_store& files, local_replica& replica, write_path& writes, follower& replica_follower,
                           const reconciler& parted, broker_sink& out, const cluster_config& cluster,
                           const broker_info& me)
    : _files(files),
      _replica(replica),
      _writes(writes),
      _follower(replica_follower),
      _reconciler(parted),
      _out(out),
      _cluster(cluster),
      _me(me),
      _installer(cluster.fsync == fsync_mode::batch),
      _uploads(cluster.files, [this] { return ++_last_upload_fetch; }) {}

void file_service::on_list(const std::string& identity, const file_list_request& r) {
    const file_manifest& files = _replica.state().files();
    const std::uint32_t limit = std::clamp<std::uint32_t>(r.limit, 1, limits::max_list_entries);
    file_list_reply out;
    out.request_id = r.request_id;
    out.epoch = _replica.last().epoch;
    out.seq = _replica.last().seq;
    std::size_t bytes = 0;
    for (auto it = files.lower_bound(r.from); it != files.end(); ++it) {
        // Pages stay far below the frame limit whatever the path lengths.
        if (out.entries.size() >= limit || bytes > (1u << 20)) {
            out.next = it->first;
            break;
        }
        bytes += it->first.size() + 128;
        out.entries.push_back(it->second);
    }
    _out.reply(identity, out);
}

void file_service::on_fetch(const std::string& identity, const fetch_request& r) {
    // Any broker hands out any version it holds, serving or not: a version's bytes are the same everywhere.
    const auto size = _files.size_of(r.hash);
    if (!size) {
        _out.reply_error(identity, r.request_id, error_code::stale_version,
                    "broker " + _me.name + " does not hold version " + r.hash.substr(0, 12) + " of " + r.path +
                        " (it was replaced or removed): list the file again");
        return;
    }
    if (r.offset > *size || r.length > *size - r.offset) {
        _out.reply_error(identity, r.request_id, error_code::bad_request,
                    "bytes " + std::to_string(r.offset) + "+" + std::to_string(r.length) + " are outside " + r.path +
                        " (" + std::to_string(*size) + " bytes)");
        return;
    }
    std::string why;
    const file_chunk_view header{r.request_id, r.path, r.hash, r.offset, 0, {}};
    auto frame = encode_chunk_frame(header, r.length, [&](char* dst) -> std::optional<std::uint64_t> {
        if (!_files.read(r.hash, r.offset, r.length, dst, &why)) return std::nullopt;
        return chunk_checksum(dst, r.length);
    });
    if (!frame) {
        spdlog::error("files: cannot serve {} to a peer: {}", r.path, why);
        _out.reply_error(identity, r.request_id, error_code::storage_failed,
                    "broker " + _me.name + " cannot read its copy of " + r.path + ": " + why);
        return;
    }
    _out.reply_frame(identity, std::move(*frame));
}

void file_service::on_put(const std::string& identity, const file_put_request& r, const write_conditions& w,
                          steady_time now) {
    if (!_writes.begin(identity, r.client_id, r.request_id, change_class::config, w.active, w.synced_replicas,
                       "file changes (configuration changes)"))
        return;
    if (r.size > _cluster.files.max_file_bytes) {
        _out.reply_error(identity, r.request_id, error_code::too_large,
                    r.path + " is " + std::to_string(r.size) + " bytes, over the cluster's limit of " +
                        std::to_string(_cluster.files.max_file_bytes) +
                        " bytes ([files] max_file_bytes in the cluster file)");
        return;
    }
    const file_entry entry{r.path, r.size, r.hash, 0, 0, r.xxh};
    if (_files.has(r.hash)) {
        // The content is here already (another path, or a previous put): only the manifest changes.
        static_cast<void>(_writes.commit(change_for(r), identity, r.request_id));
        return;
    }
    if (upload* u = _uploads.find(r.client_id, r.request_id)) {
        _uploads.resume(*u, identity);  // a re-sent FILE-PUT: continue where the transfer stopped
        return;
    }
    if (_uploads.active() >= max_concurrent_uploads) {
        // Each upload holds a file open and up to the credit in flight: a bound on both.
        _out.reply_error(identity, r.request_id, error_code::retry_later,
                    "broker " + _me.name + " is receiving " + std::to_string(max_concurrent_uploads) +
                        " uploads already: retry in a moment");
        return;
    }
    const auto free = _files.free_bytes();
    if (free && *free < r.size + reserved_free_bytes) {
        spdlog::warn("files: refused {} ({}): only {} free in {}", r.path, mib(r.size), mib(*free),
                     _files.directory().string());
        _out.reply_error(identity, r.request_id, error_code::storage_failed,
                    "broker " + _me.name + " has only " + mib(*free) + " free for its data directory and " + r.path +
                        " needs " + mib(r.size + reserved_free_bytes) + " (with a reserve): free some space there");
        return;
    }
    spdlog::info("files: receiving {} ({} bytes) from client {:x}", r.path, r.size, r.client_id);
    _uploads.start(identity, r.client_id, r.request_id, entry, _files.temp_path(r.hash), now);
}

void file_service::on_remove(const std::string& identity, const file_remove_request& r, const write_conditions& w) {
    if (!_writes.begin(identity, r.client_id, r.request_id, change_class::config, w.active, w.synced_replicas,
                       "file changes (configuration changes)"))
        return;
    if (!_replica.state().files().find(r.path)) {
        // Removing an absent file changes nothing, like deleting an absent key; the answer is the same.
        _writes.ack_now(identity, r.request_id, _replica.last());
        return;
    }
    static_cast<void>(_writes.commit(change_for(r), identity, r.request_id));
}

void file_service::on_chunk(const std::string& identity, const zmq::message_t& body, steady_time now) {
    std::string why;
    auto c = decode_chunk_view(body, &why);
    if (!c) {
        ++_bad_chunks;
        spdlog::warn("rejected a chunk ({} bytes): {}", body.size(), why);
        _out.reply_error(identity, 0, error_code::bad_request, why);
        return;
    }
    if (_uploads.on_chunk(identity, *c, now) == chunk_outcome::corrupt)
        spdlog::warn("files: a chunk of {} at offset {} arrived damaged; asking again", std::string(c->path),
                     c->offset);
    // Anything else unexpected is a late answer to a request forgotten after a reconnection: dropped.
}

void file_service::send_upload_orders() {
    for (auto& [identity, request] : _uploads.orders()) _out.reply(identity, request);
}

void file_service::finish_uploads() {
    for (auto& f : _uploads.take_finished()) {
        if (!f.file) {
            spdlog::warn("files: the upload of {} from client {:x} failed: {}", f.u.entry.path, f.u.client_id,
                         f.error);
            if (f.stale) {  // the client could not read its own file any more
                _out.reply_error(f.u.identity, f.u.request_id, error_code::bad_request,
                            "the client could no longer read " + f.u.entry.path + " while uploading it");
            } else if (f.content_mismatch) {
                // The client's fault, not the store's: nothing a retry of this FILE-PUT could change.
                _out.reply_error(f.u.identity, f.u.request_id, error_code::bad_request,
                            "broker " + _me.name + " refused the upload: " + f.error +
                                " (the file changed after its digests were computed, or they are wrong): read it "
                                "again and send a new FILE-PUT with its current digests");
            } else {
                _out.reply_error(f.u.identity, f.u.request_id, error_code::storage_failed,
                            "broker " + _me.name + " could not store " + f.u.entry.path + ": " + f.error);
            }
            continue;
        }
        upload u = f.u;
        submit_install(std::move(*f.file), true, std::move(u));
    }
}

void file_service::submit_install(fetched_file f, bool upload_owned, upload u) {
    std::string why;
    if (!_files.prepare_directory(f.entry.hash, &why)) {
        spdlog::error("files: {}", why);
        if (upload_owned)
            _out.reply_error(u.identity, u.request_id, error_code::storage_failed,
                        "broker " + _me.name + " could not store " + f.entry.path + ": " + why);
        else
            _follower.installed(f.entry.hash, false, why, std::chrono::steady_clock::now());
        std::error_code ec;
        std::filesystem::remove(f.temp_path, ec);
        return;
    }
    const std::uint64_t id = ++_last_install;
    _installing[id] = install_owner{f.entry, upload_owned, std::move(u)};
    _installer.submit(install_job{id, std::move(f.fd), f.temp_path, _files.object_path(f.entry.hash)});
}

void file_service::install_follower_files() {
    for (auto& f : _follower.take_fetched()) submit_install(std::move(f), false);
}

void file_service::drain_installer(bool active, steady_time now) {
    for (auto& r : _installer.take_results()) {
        auto it = _installing.find(r.id);
        if (it == _installing.end()) continue;
        install_owner owner = std::move(it->second);
        _installing.erase(it);
        if (r.ok) _files.installed(owner.entry.hash, owner.entry.size);
        if (!owner.is_upload) {
            if (r.ok)
                spdlog::info("files: received {} ({} bytes, sha256 {}) from {}", owner.entry.path, owner.entry.size,
                             owner.entry.hash.substr(0, 16), _follower.server_name());
            _follower.installed(owner.entry.hash, r.ok, r.error, now);
            continue;
        }
        const upload& u = owner.from;
        if (!r.ok) {
            spdlog::error("files: could not store {}: {}", owner.entry.path, r.error);
            _out.reply_error(u.identity, u.request_id, error_code::storage_failed,
                        "broker " + _me.name + " could not store " + owner.entry.path + ": " + r.error);
            continue;
        }
        // The content is on disk under its name; the change that lists it may now be logged. The broker may
        // have stopped serving meanwhile: the client then re-sends its FILE-PUT to the new server.
        if (!active || _me.rank != 0) continue;
        if (_writes.answer_retry(u.identity, u.client_id, u.request_id)) continue;
        change c = file_put_change(owner.entry);
        c.client_id = u.client_id;
        c.request_id = u.request_id;
        if (!_writes.commit(std::move(c), u.identity, u.request_id)) continue;
        spdlog::info("files: stored {} ({} bytes, sha256 {})", owner.entry.path, owner.entry.size,
                     owner.entry.hash.substr(0, 16));
    }
    // The reactor's end_of_batch() follows: it applies what the follower may now apply, and replicates and
    // logs what the server applied.
}

void file_service::collect_garbage() {
    // Only once the changes that released them are on disk: after a crash the log must still find them.
    if (_replica.flushed_seq() != _replica.last().seq) return;
    auto released = _replica.take_released();
    if (released.empty()) return;
    std::vector<std::string> keep = _uploads.hashes();
    for (auto& h : _follower.gate().referenced_hashes()) keep.push_back(std::move(h));
    for (auto& h : _reconciler.hashes()) keep.push_back(std::move(h));
    if (const std::size_t n = _files.collect(released, _replica.state().files(), keep); n > 0)
        spdlog::debug("files: deleted {} versions no file refers to any more", n);
}

void file_service::tick(steady_time now) {
    // An upload whose client went away (or stopped sending) is dropped with its temporary file.
    for (const auto& u : _uploads.expire(now, std::max(std::chrono::milliseconds(10000), 4 * _cluster.expiry)))
        spdlog::info("files: dropped the upload of {} from client {:x}: no chunk for a while", u.entry.path,
                     u.client_id);
}

void file_service::stop_serving() {
    if (_uploads.active() > 0) spdlog::info("files: dropping {} uploads: not serving any more", _uploads.active());
    _uploads.clear();
}

}  // namespace starbus
