// File: client_files.cpp
// The file calls of starbus::client (client.hpp "files"): put, remove, list,
// stat and fetch, on top of the session's file transfers. Each waits by
// servicing the session, so failovers are followed while a transfer runs.
#include <random>

#include <starbus/files/fast_hash.hpp>
#include <starbus/files/file_install.hpp>
#include <starbus/wire/file_path.hpp>

#include "client_impl.hpp"

namespace starbus {
namespace {

// How often a waiting transfer looks at its progress (and calls the progress callback).
constexpr std::chrono::milliseconds progress_interval{100};
// A download whose version was replaced meanwhile starts over on the new one, at most this many times.
constexpr int max_version_restarts = 5;

template <typename R = result>
R failed(result_status s, std::string message) {
    R r;
    r.status = s;
    r.message = std::move(message);
    return r;
}

std::optional<std::string> canonical(std::string_view remote, std::string* why) {
    std::string reason;
    auto c = normalise_remote_path(remote, &reason);
    if (!c) *why = "remote path \"" + std::string(remote) + "\" refused: " + reason;
    return c;
}

std::string random_suffix() {
    std::random_device rd;
    return std::to_string(rd()) + std::to_string(rd());
}

}  // namespace

result client::put_file(const std::filesystem::path& local, std::string_view remote, const transfer_options& options) {
    std::string why;
    const auto path = canonical(remote, &why);
    if (!path) return failed(result_status::invalid, why);
    // Both digests in one read of the file: SHA-256 is the version's identity, XXH3-128 the receivers' quick check.
    const auto digests = digest_file(local, true, &why);
    if (!digests) return failed(result_status::invalid, why);
    const auto limit = _impl->session.cluster().files.max_file_bytes;
    if (digests->size > limit)
        return failed(result_status::invalid, local.string() + " is " + std::to_string(digests->size) +
                                                  " bytes, over the cluster's limit of " + std::to_string(limit) +
                                                  " bytes ([files] max_file_bytes)");
    const file_entry entry{*path, digests->size, digests->sha256, 0, 0, digests->xxh128};
    const auto id = _impl->session.submit_file_put(entry, local, options.stall_timeout);
    _impl->waiting.insert(id);
    for (;;) {
        _impl->collect();
        if (auto it = _impl->results.find(id); it != _impl->results.end()) {
            result r = std::move(it->second);
            _impl->results.erase(it);
            if (r.ok() && options.progress) options.progress({*path, entry.size, entry.size, 1, 1});
            _impl->dispatch();
            return r;
        }
        _impl->service(clock::now() + progress_interval);
        if (options.progress) options.progress({*path, _impl->session.upload_progress(entry), entry.size, 0, 1});
    }
}

result client::remove_file(std::string_view remote, deadline d) {
    std::string why;
    const auto path = canonical(remote, &why);
    if (!path) return failed(result_status::invalid, why);
    const auto id = _impl->session.submit_file_remove(*path, d.at());
    _impl->waiting.insert(id);
    return _impl->wait_for(id, d);
}

file_list_result client::list_files(deadline d) {
    file_list_result out;
    std::string from;
    for (;;) {
        const auto id = _impl->session.submit_file_list(from, limits::max_list_entries, d.at());
        _impl->waiting.insert(id);
        const get_result r = _impl->wait_for(id, d);
        auto page = _impl->session.take_listing(id);
        if (!r.ok() || !page) {
            static_cast<result&>(out) = r;
            if (out.ok()) out = failed<file_list_result>(result_status::unreachable, "no listing arrived");
            out.files.clear();
            return out;
        }
        out.position = r.position;
        out.server = r.server;
        for (auto& e : page->entries) out.files.push_back(std::move(e));
        if (page->next.empty() || page->next <= from) return out;  // a cursor that does not advance ends it
        from = page->next;
    }
}

file_stat_result client::stat_file(std::string_view remote, deadline d) {
    std::string why;
    const auto path = canonical(remote, &why);
    if (!path) return failed<file_stat_result>(result_status::invalid, why);
    const auto id = _impl->session.submit_file_list(*path, 1, d.at());
    _impl->waiting.insert(id);
    const get_result r = _impl->wait_for(id, d);
    auto page = _impl->session.take_listing(id);
    file_stat_result out;
    static_cast<result&>(out) = r;
    if (!r.ok()) return out;
    if (!page || page->entries.empty() || page->entries.front().path != *path)
        return failed<file_stat_result>(result_status::not_found, "no file \"" + *path + "\" in the cluster");
    out.file = page->entries.front();
    return out;
}

result client::fetch_file(std::string_view remote, const std::filesystem::path& local,
                          const transfer_options& options) {
    auto stat = stat_file(remote, options.stall_timeout);
    if (!stat.ok()) return stat;
    const std::filesystem::path target = std::filesystem::absolute(local);
    const std::filesystem::path temp =
        target.parent_path() / (".starbus-tmp-" + target.filename().string() + "-" + random_suffix());
    client_detail::file_transfers& files = _impl->session.files();
    const std::uint64_t tag = _impl->session.next_request_id();
    int restarts = 0;
    files.download(stat.file, temp, tag);
    _impl->session.start();
    std::uint64_t last_reached = 0;
    auto last_move = clock::now();
    for (;;) {
        _impl->service(clock::now() + progress_interval);
        for (auto& f : files.take_failed()) {
            if (f.tag != tag) continue;
            if (!f.stale || ++restarts > max_version_restarts)
                return failed(result_status::invalid, "cannot fetch " + stat.file.path + ": " + f.reason);
            // The version was replaced or removed while it was on its way: look again.
            auto again = stat_file(stat.file.path, options.stall_timeout);
            if (!again.ok()) return again;
            stat = std::move(again);
            files.download(stat.file, temp, tag);
            last_reached = 0;
            last_move = clock::now();
        }
        for (auto& f : files.take_completed()) {
            if (f.tag != tag) continue;
            std::vector<install_job> job;
            job.push_back(install_job{0, std::move(f.fd), f.temp_path, target});
            auto installed = install_files(std::move(job), options.durable);
            if (!installed.front().ok) return failed(result_status::invalid, installed.front().error);
            if (options.progress) options.progress({stat.file.path, stat.file.size, stat.file.size, 1, 1});
            result ok;
            ok.position = stat.file.pos();
            ok.server = _impl->session.server() ? _impl->session.server()->name : std::string{};
            return ok;
        }
        const std::uint64_t reached = files.reached(tag).value_or(0);
        const auto now = clock::now();
        if (reached != last_reached) {
            last_reached = reached;
            last_move = now;
        } else if (now - last_move > options.stall_timeout) {
            files.cancel(tag);
            std::string m = "no byte of " + stat.file.path + " arrived for " +
                            std::to_string(options.stall_timeout.count()) + " ms";
            if (!_impl->session.trouble().empty()) m += " (last: " + _impl->session.trouble() + ")";
            return failed(result_status::unreachable, m);
        }
        if (options.progress) options.progress({stat.file.path, reached, stat.file.size, 0, 1});
    }
}

}  // namespace starbus

namespace starbus {

std::uint64_t client::begin_download(const file_entry& version, const std::filesystem::path& temp_path) {
    const std::uint64_t tag = _impl->session.next_request_id();
    _impl->session.files().download(version, temp_path, tag);
    _impl->session.start();
    return tag;
}

bool client::cancel_download(std::uint64_t tag) { return _impl->session.files().cancel(tag); }

std::vector<download_outcome> client::take_downloads() {
    client_detail::file_transfers& files = _impl->session.files();
    std::vector<download_outcome> out;
    for (auto& f : files.take_completed()) {
        download_outcome o;
        o.tag = f.tag;
        o.version = std::move(f.entry);
        o.ok = true;
        o.temp_path = std::move(f.temp_path);
        out.push_back(std::move(o));  // f.fd closes here: the data is written, only not yet durable
    }
    for (auto& f : files.take_failed()) {
        download_outcome o;
        o.tag = f.tag;
        o.version = std::move(f.entry);
        o.stale = f.stale;
        o.reason = std::move(f.reason);
        out.push_back(std::move(o));
    }
    return out;
}

std::uint64_t client::downloads_pending_bytes() const { return _impl->session.files().downloads().pending_bytes(); }

}  // namespace starbus
