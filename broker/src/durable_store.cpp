// File: durable_store.cpp
// The data directory of a broker (durable_store.hpp): its lock, the meta file
// (the highest epoch known), and the composition of the snapshot file
// (snapshot_file.hpp) and the change log (change_log.hpp) into one replica that
// recovers after a crash at any step. The file formats live in those units and
// the POSIX calls in posix_io; this file decides which files hold the history.
#include <starbus/broker/durable_store.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include <starbus/files/posix_io.hpp>

#include "change_log.hpp"
#include "snapshot_file.hpp"
#include "store_codec.hpp"

namespace starbus {
namespace {

using namespace store_codec;
namespace fs = std::filesystem;

constexpr std::string_view meta_magic = "SBMETA01";
constexpr std::size_t meta_size = 24;


// The meta file's bytes for `epoch`.
std::array<char, meta_size> encode_meta(std::uint64_t epoch) {
    std::array<char, meta_size> bytes{};
    std::memcpy(bytes.data(), meta_magic.data(), 8);
    put_u64(&bytes[8], epoch);
    put_u32(&bytes[16], crc32c(bytes.data(), 16));
    return bytes;
}

}  // namespace

bool compaction_due(std::uint64_t log_bytes, std::uint64_t snapshot_bytes, const compaction_rule& rule) {
    if (log_bytes < rule.min_log_bytes) return false;
    return static_cast<double>(log_bytes) >= rule.log_per_snapshot * static_cast<double>(snapshot_bytes);
}

// ---------------------------------------------------------------------------

struct durable_store::impl {
    fs::path dir;
    fsync_mode mode;
    unique_fd lock_fd;
    std::optional<change_log> log;  // once recovered
    bool is_recovered = false;
    std::uint64_t meta_epoch = 0;  // as in the meta file
    position last;                 // last change appended (buffered or not) or recovered
    std::uint64_t snapshot_bytes = 0;  // of the snapshot file (0: none), for the compaction rule
    std::string failure;           // once set (failed snapshot or compaction), every flush throws it
    // A compaction in a child process (compact_in_background): its pid (-1: none), the position of the state
    // it writes, and the log's length and records at the fork, all of which the snapshot holds.
    pid_t compactor = -1;
    position compactor_at;
    std::uint64_t compactor_offset = 0;
    std::size_t compactor_records = 0;
    std::uint64_t retry_after_log_bytes = 0;  // after a failed child: no new one before the log is this long

    [[nodiscard]] fs::path file(std::string_view name) const { return dir / name; }

    void open_directory();
    void lock_directory();
    void read_meta();
    recovered do_recover(const bus_retention& retention);
    void recover_log(recovered& r, bool have_snapshot);
    void write_snapshot_and_log(const kv_state& s);
    void flush();
    // The child's outcome, if it is done (or at once when `wait`): cuts the log after a snapshot in place.
    void reap_compactor(bool wait);
    void stop_compactor();

    ~impl() {
        stop_compactor();  // what it wrote is a temporary file until renamed: recovery removes it
        // A clean shutdown keeps what was appended; a failure here is no worse
        // than a crash, and a destructor must not throw.
        if (!is_recovered || !failure.empty() || !log || log->failed()) return;
        try {
            flush();
        } catch (const storage_error& e) {
            spdlog::error("{}", e.what());
        }
    }
};

void durable_store::impl::open_directory() {
    const std::string name = dir.string();
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw storage_error("data directory " + name + " is not a directory: choose another --data-dir");
    fs::create_directories(dir, ec);
    if (ec)
        throw storage_error("cannot create data directory " + name + ": " + ec.message() +
                            ": check its permissions or choose another --data-dir");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw storage_error("data directory " + name + " is not writable (" + errno_text(errno) +
                            "): check its permissions or choose another --data-dir");
    lock_directory();
    // Left by a crash in the middle of a replacement: the real file is intact.
    for (const char* real : {"meta", "snapshot", "log"}) ::unlink(temp_path_of(file(real)).c_str());
}

void durable_store::impl::lock_directory() {
    const std::string name = dir.string();
    lock_fd = open_file(file("LOCK"), O_RDWR | O_CREAT);
    if (!lock_fd.valid())
        throw storage_error("data directory " + name + " is not writable (cannot create its LOCK file: " +
                            errno_text(errno) + "): check its permissions or choose another --data-dir");
    // A broker that was killed while a compaction child of its own was at work leaves the lock to that child
    // for the moment it takes to die with it (durable_store.hpp): a lock held although the broker that wrote
    // its pid is gone is waited for, briefly.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (;;) {
        int rc;
        do rc = ::flock(lock_fd.get(), LOCK_EX | LOCK_NB);
        while (rc != 0 && errno == EINTR);
        if (rc == 0) break;
        if (errno != EWOULDBLOCK) throw_storage_error("cannot lock data directory " + name, errno, io_advice);
        std::array<char, 32> text{};
        const ssize_t n = read_full_at(lock_fd.get(), text.data(), text.size() - 1, 0);
        std::string pid = n > 0 ? std::string(text.data(), static_cast<std::size_t>(n)) : std::string("unknown");
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        const long holder = std::strtol(pid.c_str(), nullptr, 10);
        const bool holder_gone = holder > 0 && ::kill(static_cast<pid_t>(holder), 0) != 0 && errno == ESRCH;
        if (!holder_gone || std::chrono::steady_clock::now() >= give_up)
            throw storage_error("data directory " + name + " is in use by another broker (pid " + pid +
                                "): stop it, or give this broker another --data-dir");
        ::usleep(10000);
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd.get(), 0) != 0 || write_all_at(lock_fd.get(), pid.data(), pid.size(), 0) != 0)
        throw_storage_error("cannot write the LOCK file of data directory " + name, errno, io_advice);
}

void durable_store::impl::read_meta() {
    const fs::path path = file("meta");
    const unique_fd fd = open_file(path, O_RDONLY);
    if (!fd.valid()) {
        if (errno == ENOENT) return;  // a fresh directory: no takeover ever happened here
        throw_storage_error("cannot open meta file " + path.string(), errno, corrupt_advice);
    }
    std::array<char, meta_size + 1> m{};
    const ssize_t n = read_full_at(fd.get(), m.data(), m.size(), 0);
    if (n < 0) throw_storage_error("cannot read meta file " + path.string(), static_cast<int>(-n), corrupt_advice);
    if (static_cast<std::size_t>(n) != meta_size || std::string_view(m.data(), 8) != meta_magic ||
        get_u32(&m[16]) != crc32c(m.data(), 16))
        throw storage_error("meta file " + path.string() +
                            " is corrupt (it holds the highest epoch this broker knows)" + std::string(corrupt_advice));
    meta_epoch = get_u64(&m[8]);
}

void durable_store::impl::reap_compactor(bool wait) {
    if (compactor < 0) return;
    int status = 0;
    pid_t r;
    do r = ::waitpid(compactor, &status, wait ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return;  // still at work
    compactor = -1;
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // The old snapshot and the whole log are intact: nothing is lost, the log only grows until a retry.
        retry_after_log_bytes = log->bytes() + log->bytes() / 2;
        spdlog::warn("the background snapshot of {} failed ({}): the change log keeps growing; the next try "
                     "is at {} bytes of log. Check the data directory's free space and permissions",
                     dir.string(), r < 0 ? errno_text(errno)
                                         : WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                                             : "signal " + std::to_string(WTERMSIG(status)),
                     retry_after_log_bytes);
        return;
    }
    try {
        // The snapshot at compactor_at is in place: the log keeps only what came after it.
        log = log->rebase(compactor_at, compactor_offset, compactor_records);
        std::error_code ec;
        snapshot_bytes = fs::file_size(file("snapshot"), ec);
    } catch (const storage_error& e) {
        // As after a synchronous compaction: the files are consistent (recovery finishes the cut), this
        // store's idea of them may not be.
        failure = std::string(e.what()) + " (the store stopped writing: restart the broker)";
        throw;
    }
}

void durable_store::impl::stop_compactor() {
    if (compactor < 0) return;
    ::kill(compactor, SIGKILL);
    int status = 0;
    while (::waitpid(compactor, &status, 0) < 0 && errno == EINTR) {
    }
    compactor = -1;
    ::unlink(temp_path_of(file("snapshot")).c_str());
}

void durable_store::impl::write_snapshot_and_log(const kv_state& s) {
    stop_compactor();  // its snapshot is older than this one and must not replace it
    try {
        snapshot_bytes = write_snapshot_file(file("snapshot"), s);
        // A crash here leaves the old log beside the new snapshot: recovery notices
        // (the log's base is not the snapshot's position) and finishes this step.
        log = change_log::create(file("log"), s.last(), {});
    } catch (const storage_error& e) {
        // The files on disk are consistent (recovery sorts them out), but this
        // store's idea of them may not be: only a restart is safe.
        failure = std::string(e.what()) + " (the store stopped writing: restart the broker)";
        throw;
    }
    last = s.last();
}

durable_store::recovered durable_store::impl::do_recover(const bus_retention& retention) {
    recovered r;
    r.state.set_bus_retention(retention);
    const fs::path snapshot_path = file("snapshot");
    std::error_code ec;
    const bool have_snapshot = fs::exists(snapshot_path, ec);
    if (have_snapshot) {
        r.state = read_snapshot_file(snapshot_path, retention);
        snapshot_bytes = fs::file_size(snapshot_path, ec);
    }
    r.snapshot_position = r.state.last();

    log = change_log::open(file("log"));
    if (log) {
        recover_log(r, have_snapshot);
    } else if (have_snapshot) {
        throw storage_error("the change log " + file("log").string() + " is missing beside snapshot " +
                            snapshot_path.string() + std::string(corrupt_advice));
    } else {
        log = change_log::create(file("log"), r.snapshot_position, {});  // a fresh directory
    }
    last = r.state.last();
    r.epoch = std::max(meta_epoch, r.state.last().epoch);
    is_recovered = true;
    return r;
}

// Replays the log after the snapshot in `r`, and leaves the log consistent
// with it: a torn or corrupt tail is cut, a stale log is replaced.
void durable_store::impl::recover_log(recovered& r, bool have_snapshot) {
    const std::string log_name = file("log").string();
    const position base = log->base();
    const position snap = r.snapshot_position;
    if (!have_snapshot && base != position{})
        throw storage_error("the change log " + log_name + " follows a snapshot at " + pos_text(base) + " but " +
                            file("snapshot").string() + " is missing" + std::string(corrupt_advice));
    // A stale log predates the snapshot: its records up to the snapshot's seq
    // are skipped, and the rest belong to this history only when its record at
    // the snapshot's seq is the snapshot's position.
    const bool stale = base != snap;
    bool continues = !stale;
    const change_log::scan scan = log->read_back([&](change&& c) {
        if (stale && c.seq <= snap.seq) {
            if (c.seq == snap.seq) continues = c.pos() == snap;
            return true;
        }
        if (!continues) return false;  // the rest is another history, not damage
        const bool applied = r.state.apply(c);
        assert(applied);  // the log checked contiguity
        (void)applied;
        r.tail.push_back(std::move(c));
        return true;
    });
    if (stale) {
        spdlog::warn(
            "change log {} predates snapshot {} (a crash interrupted its replacement): "
            "kept {} of its records, finishing the replacement",
            log_name, pos_text(snap), r.tail.size());
        if (!scan.why.empty()) r.torn_bytes = scan.file_size - scan.valid_end;
        log = change_log::create(file("log"), snap, r.tail);
        return;
    }
    if (scan.valid_end < scan.file_size) {
        r.torn_bytes = scan.file_size - scan.valid_end;
        spdlog::warn("change log {}: cut {} bytes at offset {} ({}); recovered up to {}", log_name, r.torn_bytes,
                     scan.valid_end, scan.why.empty() ? "trailing bytes" : scan.why, pos_text(r.state.last()));
    }
    log->keep_valid(scan);
}

void durable_store::impl::flush() {
    if (!failure.empty()) throw storage_error(failure);
    log->flush(mode == fsync_mode::batch);
    reap_compactor(false);
}

// ---------------------------------------------------------------------------

durable_store::durable_store(const std::filesystem::path& dir, fsync_mode mode) : _impl(std::make_unique<impl>()) {
    _impl->dir = dir;
    _impl->mode = mode;
    _impl->open_directory();
    _impl->read_meta();
}

durable_store::durable_store(durable_store&&) noexcept = default;
durable_store& durable_store::operator=(durable_store&&) noexcept = default;

durable_store::~durable_store() = default;

durable_store::recovered durable_store::recover(const bus_retention& retention) {
    assert(_impl && !_impl->is_recovered);
    return _impl->do_recover(retention);
}

void durable_store::append(const change& c) {
    assert(_impl && _impl->is_recovered);
    assert(c.seq == _impl->last.seq + 1);
    _impl->log->append(c);
    _impl->last = c.pos();
}

void durable_store::append(const std::vector<change>& batch) {
    for (const auto& c : batch) append(c);
}

void durable_store::flush() {
    assert(_impl && _impl->is_recovered);
    _impl->flush();
}

void durable_store::save_epoch(std::uint64_t epoch) {
    assert(_impl);
    impl& m = *_impl;
    if (epoch <= m.meta_epoch) return;  // the highest epoch known never goes down
    const auto bytes = encode_meta(epoch);
    (void)atomic_replace(m.file("meta"), std::string_view(bytes.data(), bytes.size()), io_advice);
    m.meta_epoch = epoch;
}

void durable_store::install_snapshot(const kv_state& s) {
    assert(_impl && _impl->is_recovered);
    _impl->write_snapshot_and_log(s);
}

bool durable_store::maybe_compact(const kv_state& s, const compaction_rule& rule) {
    assert(_impl && _impl->is_recovered);
    if (!compaction_due(log_bytes(), _impl->snapshot_bytes, rule)) return false;
    assert(s.last() == _impl->last);
    _impl->write_snapshot_and_log(s);
    return true;
}

bool durable_store::compact_in_background(const kv_state& s, const compaction_rule& rule) {
    assert(_impl && _impl->is_recovered);
    impl& m = *_impl;
    if (m.compactor >= 0 || m.log->bytes() < m.retry_after_log_bytes) return false;
    if (!compaction_due(log_bytes(), m.snapshot_bytes, rule)) return false;
    assert(s.last() == m.last);
    m.flush();  // the child's snapshot holds every record of the log up to here
    const pid_t broker = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // The child: the state as it was at the fork, and nothing else of the broker's (no logging, no
        // sockets, no destructors). It dies with the broker: a snapshot renamed into place after the broker
        // was restarted would be older than that broker's files. (Until it dies it also holds the data
        // directory's lock, which the restarted broker then waits for.)
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != broker) ::_exit(2);  // the broker died before the line above
        int code = 0;
        try {
            static_cast<void>(write_snapshot_file(m.file("snapshot"), s));
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    if (pid < 0) {
        spdlog::warn("cannot fork to write a snapshot beside the broker ({}): writing it here and now",
                     errno_text(errno));
        m.write_snapshot_and_log(s);
        return true;
    }
    m.compactor = pid;
    m.compactor_at = s.last();
    m.compactor_offset = m.log->bytes();
    m.compactor_records = m.log->records();
    return true;
}

bool durable_store::compacting() const { return _impl && _impl->compactor >= 0; }

void durable_store::finish_compaction() {
    assert(_impl);
    _impl->reap_compactor(true);
}

bool durable_store::maybe_compact(const kv_state& s, std::size_t max_log_records) {
    assert(_impl && _impl->is_recovered);
    if (log_records() <= max_log_records) return false;
    assert(s.last() == _impl->last);
    _impl->write_snapshot_and_log(s);
    return true;
}

std::uint64_t durable_store::log_bytes() const {
    assert(_impl);
    return _impl->log ? _impl->log->bytes() : 0;
}

std::uint64_t durable_store::snapshot_bytes() const {
    assert(_impl);
    return _impl->snapshot_bytes;
}

std::size_t durable_store::log_records() const {
    assert(_impl);
    return _impl->log ? _impl->log->records() : 0;
}

const std::filesystem::path& durable_store::directory() const {
    assert(_impl);
    return _impl->dir;
}

}  // namespace starbus
