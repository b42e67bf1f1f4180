// File: file_mirror.cpp
// One mirror pass and the loop that repeats it (file_mirror.hpp): wait for
// the mirrored state, diff the directory's index against the cluster's
// manifest, delete what is extra, fetch what differs (through the client's
// background downloads, which follow failovers), and install fetched files in
// batches. Written against the public client API only (client.hpp), like an
// application's own tool could be.
#include <starbus/client/file_mirror.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <starbus/files/file_install.hpp>
#include <starbus/wire/file_path.hpp>

#include "mirror_index.hpp"

namespace starbus {
namespace {

namespace fs = std::filesystem;
using client_detail::mirror_index;
using clock = std::chrono::steady_clock;

// Fetched files are installed in batches of this many (one syncfs each), or
// when nothing else is left to fetch.
constexpr std::size_t install_batch = 256;
constexpr std::chrono::milliseconds progress_interval{100};

// Removes the empty directories between `leaf`'s parent and `root` (exclusive).
void prune_empty_parents(const fs::path& root, fs::path dir) {
    std::error_code ec;
    while (dir != root && dir.native().size() > root.native().size()) {
        if (!fs::is_empty(dir, ec) || ec) return;
        fs::remove(dir, ec);
        dir = dir.parent_path();
    }
}

// Services `c` until `until` (or until something happened, like client::poll).
void service(client& c, clock::time_point until) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
    (void)c.poll(std::max(std::chrono::milliseconds(0), left));
}

std::string last_trouble_note(const client& c) {
    const std::string t = c.last_trouble();
    return t.empty() ? std::string{} : " (last: " + t + ")";
}

}  // namespace

struct file_mirror::impl {
    client& owner;
    mirror_options options;
    mirror_index index;
    fs::path temp_dir;
    std::uint64_t next_temp = 0;
    bool scanned = false;                     // the directory was scanned since the last server change
    std::optional<server_info> last_server;   // the server of the last pass
    std::optional<file_manifest> last_remote; // the cluster's files as the last pass saw them

    impl(client& c, mirror_options o)
        : owner(c), options(std::move(o)), index(options.directory), temp_dir(options.directory / client_detail::mirror_temp_dir) {}

    // Deletes a local file the cluster does not list (only a regular file, never through a symlink).
    bool delete_local(const std::string& path) {
        std::string why;
        auto at = confine(options.directory, path, &why);
        if (!at) return false;
        std::error_code ec;
        if (!fs::is_regular_file(fs::symlink_status(*at, ec))) return false;
        fs::remove(*at, ec);
        if (ec) return false;
        prune_empty_parents(options.directory, at->parent_path());
        return true;
    }

    // One pass. `d` bounds the whole pass; with `stall`, transfers are given up only when nothing moved
    // for that long (a large file may take longer than any fixed deadline); `stop` ends the pass early.
    mirror_report pass(deadline d, std::optional<std::chrono::milliseconds> stall,
                       const std::function<void(const transfer_progress&)>& progress,
                       const std::atomic<bool>* stop = nullptr,
                       std::optional<clock::time_point> sync_by = std::nullopt);
};

file_mirror::file_mirror(client& c, mirror_options options) : _impl(std::make_unique<impl>(c, std::move(options))) {
    const fs::path& dir = _impl->options.directory;
    if (!c.options().mirror_state)
        throw config_error("a file mirror needs a client made with client_options::mirror_state = true");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec))
        throw config_error(dir.string() + " is not a directory: give the mirror a directory to keep in step");
    const bool is_mirror = fs::exists(dir / client_detail::mirror_index_name, ec);
    if (!is_mirror && !_impl->options.adopt && !fs::is_empty(dir, ec))
        throw config_error(dir.string() + " is not empty and is not a starbus mirror: choose an empty directory, or "
                                          "adopt it (starbus mirror --adopt), which deletes every file in it that the "
                                          "cluster does not list");
    std::string why;
    if (is_mirror && !_impl->index.load(&why)) {
        // An unreadable index only costs a full re-read of the directory.
    }
    fs::remove_all(_impl->temp_dir, ec);
    fs::create_directories(_impl->temp_dir, ec);
    if (ec) throw config_error("cannot create " + _impl->temp_dir.string() + ": " + ec.message());
    if (!_impl->index.save(&why)) throw config_error(why + " (is " + dir.string() + " writable?)");
}

file_mirror::~file_mirror() = default;

mirror_report file_mirror::impl::pass(deadline d, std::optional<std::chrono::milliseconds> stall,
                                      const std::function<void(const transfer_progress&)>& progress,
                                      const std::atomic<bool>* stop, std::optional<clock::time_point> sync_by) {
    const auto started = clock::now();
    mirror_report report;
    client& c = owner;
    // Never compare against a state that is not the server's: an empty mirror would delete everything.
    // (poll() connects a mirroring client by itself.) Between leaving a server and confirming the next, the mirrored state still says "synchronised" about the
    // old one: wait for a confirmed server too.
    const deadline synced_by = sync_by ? deadline(*sync_by) : d;
    const auto ready = [&] { return c.synchronised() && c.server().has_value(); };
    while (!ready() && !synced_by.passed() && !(stop && stop->load()))
        service(c, std::min(synced_by.at(), clock::now() + progress_interval));
    if (!ready()) {
        report.outcome.status = result_status::unreachable;
        report.outcome.message = "the mirrored state did not synchronise before the deadline" + last_trouble_note(c);
        return report;
    }
    const auto server = c.server();
    if (!last_server || !server || last_server->name != server->name || last_server->epoch != server->epoch)
        scanned = false;  // a new server: compare what is on disk, not what we believe is
    last_server = server;
    report.server = server ? server->name : std::string{};
    std::string first_error;
    const auto note_error = [&](const std::string& e) {
        ++report.failed;
        if (first_error.empty()) first_error = e;
    };
    if (!scanned) {
        auto s = index.scan();
        report.rehashed = s.rehashed;
        for (const auto& stray : s.strays)
            if (delete_local(stray)) ++report.deleted;
        for (const auto& e : s.errors) note_error(e);
        scanned = true;
    }
    const file_manifest remote = c.mirror().files();
    report.at = c.mirror().last();
    last_remote = remote;
    const manifest_diff todo = diff(index.manifest(), remote);
    for (const auto& path : todo.to_delete) {
        if (delete_local(path)) ++report.deleted;
        else note_error("cannot delete " + (options.directory / path).string());
        index.remove(path);
    }
    for (const auto& e : todo.to_relabel) index.relabel(e);

    // Fetch what differs, installing in batches.
    std::map<std::uint64_t, fs::path> targets;  // download tag -> final name
    std::uint64_t total_bytes = 0;
    for (const auto& e : todo.to_fetch) {
        std::string why;
        auto at = confine(options.directory, e.path, &why);
        if (!at) {
            note_error("cannot place " + e.path + ": " + why);
            continue;
        }
        const std::uint64_t tag = c.begin_download(e, temp_dir / std::to_string(++next_temp));
        targets.emplace(tag, *at);
        total_bytes += e.size;
    }
    std::vector<install_job> batch;
    std::map<std::uint64_t, file_entry> batch_entries;
    const auto install = [&] {
        if (batch.empty()) return;
        for (auto& job : batch) {
            std::error_code ec;
            fs::create_directories(job.final_path.parent_path(), ec);
        }
        for (auto& r : install_files(std::move(batch), options.durable)) {
            const file_entry& e = batch_entries[r.id];
            if (!r.ok) {
                note_error(r.error);
                continue;
            }
            index.put(e);
            ++report.fetched;
            report.fetched_bytes += e.size;
        }
        batch.clear();
        batch_entries.clear();
    };
    std::size_t outstanding = targets.size();
    auto last_progress = clock::now();
    auto last_move = clock::now();
    std::uint64_t last_pending = c.downloads_pending_bytes();
    while (outstanding > 0) {
        const auto now = clock::now();
        if (const std::uint64_t p = c.downloads_pending_bytes(); p != last_pending) {
            last_pending = p;
            last_move = now;
        }
        const bool stalled = stall && now - last_move > *stall;
        const bool stopped = stop && stop->load();
        if (d.passed(now) || stalled || stopped) {
            for (const auto& [tag, path] : targets) (void)c.cancel_download(tag);
            report.outcome.status = result_status::unreachable;
            report.outcome.message = std::to_string(outstanding) + " files still on their way " +
                                     (stopped ? std::string("when asked to stop")
                                              : stalled ? "when nothing had moved for " +
                                                              std::to_string(stall->count()) + " ms"
                                                        : std::string("at the deadline"));
            break;
        }
        service(c, std::min(d.at(), clock::now() + progress_interval));
        for (auto& f : c.take_downloads()) {
            auto t = targets.find(f.tag);
            if (t == targets.end()) continue;
            const fs::path final_path = t->second;
            targets.erase(t);
            --outstanding;
            if (!f.ok) {
                // A version replaced on its way is no failure: the next pass fetches the new one.
                if (!f.stale) note_error(f.reason);
                continue;
            }
            // The download closed its descriptor; the install fsyncs the same file through a new one.
            unique_fd fd(::open(f.temp_path.c_str(), O_RDWR | O_CLOEXEC));
            if (!fd) {
                note_error("cannot reopen the fetched " + f.version.path + " at " + f.temp_path.string() + ": " +
                           std::strerror(errno) + " (is " + temp_dir.string() + " still writable?)");
                std::error_code ec;
                fs::remove(f.temp_path, ec);
                continue;
            }
            batch_entries[f.tag] = f.version;
            batch.push_back(install_job{f.tag, std::move(fd), f.temp_path, final_path});
        }
        if (batch.size() >= install_batch || (outstanding == 0 && !batch.empty())) install();
        if (progress && clock::now() - last_progress >= progress_interval) {
            last_progress = clock::now();
            const std::uint64_t left = std::min(total_bytes, c.downloads_pending_bytes());
            progress({"", total_bytes - left, total_bytes, report.fetched, todo.to_fetch.size()});
        }
    }
    install();
    std::string why;
    if (!index.save(&why)) note_error(why);
    report.files = index.size();
    if (report.outcome.ok() && report.failed > 0) {
        report.outcome.status = result_status::invalid;
        report.outcome.message = std::to_string(report.failed) + " files could not be mirrored; first: " + first_error;
    }
    report.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    return report;
}

mirror_report file_mirror::sync(std::chrono::milliseconds stall_timeout,
                                const std::function<void(const transfer_progress&)>& progress) {
    // The wait for the mirrored state is bounded by the stall timeout too; transfers by their progress.
    return _impl->pass(deadline::never(), stall_timeout, progress, nullptr, clock::now() + stall_timeout);
}

void file_mirror::run(const std::atomic<bool>& stop, const std::function<void(const mirror_report&)>& on_pass,
                      const std::function<void(const transfer_progress&)>& progress) {
    client& c = _impl->owner;
    bool retry = true;  // the first pass, and again after one that did not finish
    while (!stop.load()) {
        const auto server = c.server();
        const bool server_changed = server && (!_impl->last_server || server->name != _impl->last_server->name ||
                                               server->epoch != _impl->last_server->epoch);
        const bool files_changed = !_impl->last_remote || c.mirror().files() != *_impl->last_remote;
        // Only against a confirmed server's synchronised state (see pass()); the sockets are serviced between
        // passes, so a pass that had nothing to do never starves the session.
        if (server && c.synchronised() && (retry || server_changed || files_changed)) {
            // Transfers give up only when nothing moves for a while, so a large file always completes.
            mirror_report r = _impl->pass(deadline::never(), std::chrono::seconds(30), progress, &stop);
            retry = !r.outcome.ok();
            if (on_pass) on_pass(r);
            service(c, clock::now() + (retry ? std::chrono::milliseconds(500) : std::chrono::milliseconds(0)));
            continue;
        }
        service(c, clock::now() + std::chrono::milliseconds(200));
    }
}

}  // namespace starbus
