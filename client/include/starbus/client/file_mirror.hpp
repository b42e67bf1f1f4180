// File: file_mirror.hpp
// Keeps a local directory identical to the cluster's files (`starbus mirror
// DIR`): after the client's mirrored state is synchronised, the directory's
// manifest is compared with the cluster's and only files whose content
// differs are fetched; files the cluster does not list are deleted. It runs a
// pass again whenever the cluster's files change (file changes arrive with
// the mirrored state) and after every server change, so it follows failovers
// (downloads in progress resume from the new server where they stopped).
//
// Each file appears whole and verified (XXH3-128, and SHA-256 with
// client_options::verify_sha256), via a temporary file under DIR/.starbus-tmp,
// fsync and rename. DIR/.starbus-mirror remembers, per file, its size, mtime,
// inode and digests, so a pass re-reads only files that changed on disk.
// Names starting with ".starbus" are the mirror's own (no remote path can
// start so). It is built on the public client API only (mirror(),
// synchronised(), server(), poll() and the background downloads of
// client.hpp), so an application can write its own variant the same way.
//
// Usage:
//   starbus::client_options o;  o.cluster = ...;  o.mirror_state = true;
//   starbus::client c(o);
//   starbus::file_mirror m(c, {"/srv/files"});
//   auto report = m.sync();   // one pass
//   m.run(stop_flag, [](const starbus::mirror_report& r) { ... });  // until stop_flag
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <starbus/client/client.hpp>

namespace starbus {

struct mirror_options {
    std::filesystem::path directory;
    // Make a non-empty directory that is not yet a starbus mirror into one:
    // every file in it that the cluster does not list is deleted.
    bool adopt = false;
    // fsync each file before it replaces the old one (false: faster, not crash-safe).
    bool durable = true;
};

// What one pass did.
struct mirror_report {
    result outcome;                  // ok, or why the pass could not finish (then the counts say how far it got)
    std::size_t files = 0;           // files the mirror holds after the pass
    std::size_t fetched = 0;         // files fetched
    std::uint64_t fetched_bytes = 0;
    std::size_t deleted = 0;         // files deleted (not listed by the cluster)
    std::size_t failed = 0;          // files that could not be fetched or placed (outcome.message says why)
    std::size_t rehashed = 0;        // local files read again because they changed on disk
    position at;                     // the cluster position mirrored
    std::string server;              // who served it
    std::chrono::milliseconds took{0};
};

class file_mirror {
  public:
    // `c` must have been made with client_options::mirror_state. Throws
    // config_error when the directory cannot be used (not a directory, not
    // writable, or not empty and not a mirror without `adopt`).
    file_mirror(client& c, mirror_options options);
    ~file_mirror();
    file_mirror(const file_mirror&) = delete;
    file_mirror& operator=(const file_mirror&) = delete;

    // One pass. It gives up (outcome unreachable) when the mirrored state does
    // not synchronise, or no byte moves, for `stall_timeout`. `progress`
    // (optional) is called as bytes move.
    [[nodiscard]] mirror_report sync(std::chrono::milliseconds stall_timeout = std::chrono::seconds(30),
                                     const std::function<void(const transfer_progress&)>& progress = {});

    // Passes until `stop` becomes true: at once, then whenever the cluster's
    // files or the server change. `on_pass` sees every pass's report.
    void run(const std::atomic<bool>& stop, const std::function<void(const mirror_report&)>& on_pass,
             const std::function<void(const transfer_progress&)>& progress = {});

  private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace starbus
