// File: file_install.hpp
// Making received files durable and visible: a new version appears under its
// final name only once it is whole, verified and on disk (write to a
// temporary name, fsync, rename, fsync the directory), so a crash at any
// moment leaves either the previous version or the new one, never a mix.
//
// A batch of many small files is made durable with one syncfs() instead of
// one fdatasync() each (on this project's VM a single fdatasync costs 0.2 to
// 4 ms; 10,000 of them would take seconds). The broker must never block its
// reactor on a disk flush (its heartbeats would stop), so it runs the same
// work on a background thread: background_installer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <starbus/files/unique_fd.hpp>

namespace starbus {

// One received file to install: its open temporary file and its final name
// (on the same file system; the final name's directory must exist).
struct install_job {
    std::uint64_t id = 0;  // the caller's label, echoed in the result
    unique_fd fd;
    std::filesystem::path temp_path;
    std::filesystem::path final_path;
};

struct install_result {
    std::uint64_t id = 0;
    bool ok = false;
    std::string error;  // when !ok: what failed and what to do; the temporary file is removed
};

// Installs a batch: makes every file durable (when `durable`), renames each
// over its final name, then syncs each directory touched (when `durable`).
// Never throws for I/O errors: each file's result says what happened.
[[nodiscard]] std::vector<install_result> install_files(std::vector<install_job> jobs, bool durable);

// install_files() on a thread of its own. Results are collected with
// take_results(); notify_fd() becomes readable when some are waiting, so a
// poll loop can wait on it next to its sockets.
class background_installer {
  public:
    // Throws std::system_error when the eventfd or the thread cannot be created.
    explicit background_installer(bool durable);
    ~background_installer();  // finishes what was submitted, then joins
    background_installer(const background_installer&) = delete;
    background_installer& operator=(const background_installer&) = delete;

    void submit(install_job job);
    [[nodiscard]] int notify_fd() const { return _event.get(); }
    // Every result ready so far (and clears notify_fd()'s readiness).
    [[nodiscard]] std::vector<install_result> take_results();
    // Jobs submitted and not yet taken back as results.
    [[nodiscard]] std::size_t outstanding() const;

  private:
    void work();

    bool _durable;
    unique_fd _event;
    mutable std::mutex _mutex;
    std::condition_variable _wake;
    std::vector<install_job> _todo;
    std::vector<install_result> _done;
    std::size_t _outstanding = 0;
    bool _stopping = false;
    std::thread _thread;  // last: started once everything above exists
};

}  // namespace starbus
