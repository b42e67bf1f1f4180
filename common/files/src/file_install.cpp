// File: file_install.cpp
// Durable, atomic installation of received files (file_install.hpp).
#include <starbus/files/file_install.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <system_error>

#include <starbus/files/posix_io.hpp>

namespace starbus {
namespace {

// More files than this in one batch are flushed with one syncfs().
constexpr std::size_t syncfs_threshold = 4;

}  // namespace

std::vector<install_result> install_files(std::vector<install_job> jobs, bool durable) {
    std::vector<install_result> results(jobs.size());
    std::vector<bool> ok(jobs.size(), true);
    for (std::size_t i = 0; i < jobs.size(); ++i) results[i].id = jobs[i].id;
    const auto fail = [&](std::size_t i, const std::string& what, int e) {
        ok[i] = false;
        results[i].error = what + " " + jobs[i].temp_path.string() + ": " + errno_text(e) +
                           (e == ENOSPC ? " (the disk is full: free some space)" : " (check the disk)");
    };
    if (durable) {
        if (jobs.size() > syncfs_threshold) {
            // One flush of the whole file system covers every file of the batch.
            if (const int e = sync_file_system(jobs.front().fd.get()); e != 0)
                for (std::size_t i = 0; i < jobs.size(); ++i) fail(i, "cannot flush", e);
        } else {
            for (std::size_t i = 0; i < jobs.size(); ++i)
                if (const int e = sync_data(jobs[i].fd.get()); e != 0) fail(i, "cannot flush", e);
        }
    }
    std::set<std::filesystem::path> directories;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        jobs[i].fd.reset();
        if (ok[i] && ::rename(jobs[i].temp_path.c_str(), jobs[i].final_path.c_str()) != 0)
            fail(i, "cannot rename into place", errno);
        if (!ok[i]) {
            ::unlink(jobs[i].temp_path.c_str());
            continue;
        }
        directories.insert(jobs[i].final_path.parent_path());
        results[i].ok = true;
    }
    if (durable) {
        // The rename itself is durable only once its directory is. A failure is not reported: the files are
        // in place and whole already; only a power cut before the directory reaches the disk could undo it.
        for (const auto& dir : directories) (void)sync_directory(dir);
    }
    return results;
}

background_installer::background_installer(bool durable)
    : _durable(durable), _event(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!_event) throw std::system_error(errno, std::generic_category(), "cannot create an eventfd");
    _thread = std::thread([this] { work(); });
}

background_installer::~background_installer() {
    {
        std::lock_guard lock(_mutex);
        _stopping = true;
    }
    _wake.notify_one();
    if (_thread.joinable()) _thread.join();
}

void background_installer::submit(install_job job) {
    {
        std::lock_guard lock(_mutex);
        _todo.push_back(std::move(job));
        ++_outstanding;
    }
    _wake.notify_one();
}

std::vector<install_result> background_installer::take_results() {
    std::uint64_t count = 0;
    (void)::read(_event.get(), &count, sizeof count);  // clears the readiness; EAGAIN when nothing was signalled
    std::lock_guard lock(_mutex);
    std::vector<install_result> out;
    out.swap(_done);
    _outstanding -= out.size();
    return out;
}

std::size_t background_installer::outstanding() const {
    std::lock_guard lock(_mutex);
    return _outstanding;
}

void background_installer::work() {
    for (;;) {
        std::vector<install_job> batch;
        {
            std::unique_lock lock(_mutex);
            _wake.wait(lock, [&] { return _stopping || !_todo.empty(); });
            if (_todo.empty()) return;  // stopping, and nothing left to do
            batch.swap(_todo);
        }
        // Everything that queued up meanwhile is one batch: one flush for many files.
        auto results = install_files(std::move(batch), _durable);
        {
            std::lock_guard lock(_mutex);
            for (auto& r : results) _done.push_back(std::move(r));
        }
        const std::uint64_t one = 1;
        (void)::write(_event.get(), &one, sizeof one);
    }
}

}  // namespace starbus
