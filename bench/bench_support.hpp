// File: bench_support.hpp
// What every starbus benchmark program shares: a real cluster of
// starbus-broker processes on a random loopback address (a cluster file, data
// directories that clean themselves, SIGKILL and restart on the same data),
// waiting for it to settle, statistics over repetitions (median, min, max,
// percentiles) and plain-text tables. Built on the test helpers
// (tests/process.hpp, tests/testutil.hpp) so that benchmarks and integration
// tests start brokers the same way.
#pragma once

#include <iostream>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include <starbus/client/client.hpp>
#include <starbus/config/cluster_config.hpp>

#include "process.hpp"
#include "testutil.hpp"

namespace starbus::bench {

using clock = std::chrono::steady_clock;

// ---- locating programs ----

// The directory holding the running benchmark (dirname of /proc/self/exe).
[[nodiscard]] std::string self_dir();
// The running benchmark's own path, to start it again as a helper process.
[[nodiscard]] std::string self_path();
// starbus-broker next to the benchmark binary.
[[nodiscard]] std::string default_broker_path();
// Throws std::runtime_error saying what to do when `path` is not an executable.
void require_executable(const std::string& path, const std::string& what);

// ---- statistics ----

struct summary {
    double median = 0;
    double min = 0;
    double max = 0;
    std::size_t count = 0;
};
// Median (mean of the two middle values for an even count), min, max; zeros when empty.
[[nodiscard]] summary summarize(std::vector<double> values);
// Nearest-rank percentile, p in [0, 100]; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> values, double p);

// ---- output ----

// "a,b,c" -> {"a", "b", "c"} (empty items dropped).
[[nodiscard]] std::vector<std::string> split_list(const std::string& text);
// A number with a fixed count of decimals ("12345", "3.14").
[[nodiscard]] std::string fmt(double v, int decimals = 0);
// A fixed-width text table, printed in one go.
class table {
  public:
    explicit table(std::vector<std::string> headers);
    void add(std::vector<std::string> row);
    void print() const;

  private:
    std::vector<std::string> _headers;
    std::vector<std::vector<std::string>> _rows;
};

// Seconds since `t`, as a double.
[[nodiscard]] inline double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
}

// ---- child processes that do not outlive the benchmark ----

// SIGPIPE is ignored (`| head` must not leave brokers behind); SIGINT, SIGTERM
// and SIGHUP SIGKILL every tracked child, then exit. Call first in main().
void install_exit_handlers();

// Runs a benchmark's body: an exception that escapes it becomes one line on
// stderr, named after the program, and exit status 1.
template <typename Fn>
int guarded(const char* program, Fn&& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    }
}

// A child process (test::child_process) that the exit handlers kill too.
class tracked_process {
  public:
    tracked_process() = default;
    tracked_process(const std::vector<std::string>& argv, const std::string& log_path) { start(argv, log_path); }
    ~tracked_process() { kill(); }
    tracked_process(tracked_process&&) noexcept = default;
    tracked_process& operator=(tracked_process&&) = delete;
    tracked_process(const tracked_process&) = delete;
    tracked_process& operator=(const tracked_process&) = delete;

    // Kills the previous child, if any, and starts a new one.
    void start(const std::vector<std::string>& argv, const std::string& log_path);
    // SIGKILL and reap.
    void kill();
    [[nodiscard]] bool running();
    // The child's pid (-1 when none runs).
    [[nodiscard]] pid_t pid() const { return _process.pid(); }
    // A polite stop: SIGTERM, wait up to `grace` for it to exit, SIGKILL after. Returns whether it exited
    // within the grace.
    bool stop(std::chrono::milliseconds grace);

  private:
    test::child_process _process;
};

// ---- a cluster of broker processes ----

struct cluster_settings {
    std::size_t brokers = 1;
    int heartbeat_ms = 100;
    std::string fsync = "batch";  // "batch" or "never" (cluster_config.hpp)
    std::string ack = "replica";  // "local", "replica" or "all"
    std::string log_dir;          // where broker logs go (kept); empty: the cluster's temporary directory
    std::string extra;            // more cluster-file text before the brokers (e.g. a [files] table)
    bool curve = false;           // [security] mode = "curve": keys made for every broker and one admin client
    int scrape_ms = 0;            // > 0: every broker serves HTTP, and a scraper GETs each /metrics this often
};

// A Prometheus-like scraper: one thread GETting http://ENDPOINT/metrics of every endpoint every
// `interval`, until destroyed (the cost of the HTTP endpoint to the broker it watches).
class metrics_scraper {
  public:
    metrics_scraper(std::vector<std::string> endpoints, std::chrono::milliseconds interval);
    ~metrics_scraper();
    metrics_scraper(const metrics_scraper&) = delete;
    metrics_scraper& operator=(const metrics_scraper&) = delete;
    [[nodiscard]] std::uint64_t scrapes() const { return _ok.load(); }
    [[nodiscard]] std::uint64_t failures() const { return _failed.load(); }

  private:
    std::atomic<bool> _stop{false};
    std::atomic<std::uint64_t> _ok{0}, _failed{0};
    std::thread _thread;
};

class bench_cluster {
  public:
    // Writes the cluster file; starts nothing yet.
    bench_cluster(std::string broker_path, cluster_settings settings);
    ~bench_cluster();
    bench_cluster(const bench_cluster&) = delete;
    bench_cluster& operator=(const bench_cluster&) = delete;

    [[nodiscard]] const cluster_config& config() const { return _config; }
    // Options for a client of this cluster (with the admin client's key on a CURVE cluster), the library's
    // defaults otherwise.
    [[nodiscard]] client_options options() const;
    [[nodiscard]] const std::string& cluster_file() const { return _cluster_file; }
    [[nodiscard]] std::size_t size() const { return _config.brokers.size(); }
    [[nodiscard]] const std::string& name(std::size_t i) const { return _config.brokers[i].name; }
    // Index of broker `name`, or size() when there is none.
    [[nodiscard]] std::size_t index_of(const std::string& name) const;
    [[nodiscard]] std::string describe() const;
    // The cluster's temporary directory (data directories, logs), removed with it.
    [[nodiscard]] const std::filesystem::path& directory() const { return _dir.path(); }

    void start(std::size_t i);
    void start_all();
    // A crash: SIGKILL, then reap.
    void kill(std::size_t i);
    [[nodiscard]] bool running(std::size_t i);
    // A clean stop: SIGTERM, SIGKILL after `grace`. Returns whether it exited within the grace.
    bool stop(std::size_t i, std::chrono::milliseconds grace);
    // Broker i's process id (-1 when it does not run) and data directory.
    [[nodiscard]] pid_t pid(std::size_t i) const { return _procs[i].pid(); }
    [[nodiscard]] std::filesystem::path data_dir(std::size_t i) const;

    // Every broker's own report (rank order), asked in parallel.
    [[nodiscard]] std::vector<broker_status> status(std::chrono::milliseconds timeout);
    // Broker i's report only (its own DEALER): nullopt when it did not answer.
    [[nodiscard]] std::optional<broker_status> status_of(std::size_t i, std::chrono::milliseconds timeout);

    // Waits until broker `active` is active and every other running broker is
    // passive. Each try also writes a probe key (a backup takes over only when
    // a client asks, the Binary Star vote). Returns whether it settled.
    bool wait_settled(std::size_t active, std::chrono::milliseconds timeout);

    // The probe client (set/dump), connected to the whole cluster.
    [[nodiscard]] client& probe() { return *_probe; }

    // The last lines of every broker's log, for a failure message.
    [[nodiscard]] std::string log_tail(std::size_t lines = 25) const;

  private:
    [[nodiscard]] std::string log_path(std::size_t i) const;

    std::string _broker_path;
    test::temp_dir _dir;
    std::string _log_dir;
    std::string _cluster_file;
    cluster_config _config;
    curve_key_pair _client_key;
    std::unique_ptr<metrics_scraper> _scraper;  // with settings.scrape_ms  // CURVE: the benchmark's clients' key (role admin)
    std::vector<tracked_process> _procs;
    std::unique_ptr<client> _probe;
    std::vector<std::unique_ptr<client>> _single;  // one status-only client per broker
};

// ---- helpers for workloads ----

// A key of exactly `bytes` bytes (at least 8) made of `prefix` and `n`, zero padded.
[[nodiscard]] std::string make_key(const std::string& prefix, std::uint64_t n, std::size_t bytes);
// A value of `bytes` bytes whose first byte is `tag`.
[[nodiscard]] std::string make_value(char tag, std::size_t bytes);

// Median microseconds of one 256-byte append (about one change record) plus
// fdatasync, in a file under the system temp directory ($TMPDIR) where the
// brokers' data directories live: roughly what fsync = "batch" pays per
// reactor batch here. Measured from an otherwise idle thread: on a VM the
// completion may wait for the next timer tick, so a busy broker can see less.
[[nodiscard]] double fdatasync_micros(int samples = 100);

// The helper processes a benchmark starts from its own binary (a proxy, an
// echo server) stop when their parent dies, or after this long at most.
inline constexpr std::chrono::seconds helper_lifetime{1800};
// True when the process that started us has gone (we were re-parented).
[[nodiscard]] bool parent_gone(pid_t original_parent);

// ---- sizes of processes and directories ----

// The resident memory of process `pid` (VmRSS of /proc/PID/status), in bytes; 0 when unreadable.
[[nodiscard]] std::uint64_t resident_bytes(pid_t pid);
// The bytes of every regular file under `dir` (apparent sizes), recursively; 0 when it does not exist.
[[nodiscard]] std::uint64_t directory_bytes(const std::filesystem::path& dir);
// Whether something accepts TCP connections at tcp://HOST:PORT (`endpoint`): a plain connect, closed at once.
[[nodiscard]] bool tcp_accepts(const std::string& endpoint);

// ---- the raw PUB/SUB baseline ----

// A raw libzmq XSUB/XPUB proxy (zmq::proxy_steerable) on the two endpoints, every high-water mark `hwm`: the
// baseline of the bus benchmarks, run as a helper process of its own (like the broker). Returns when the
// process that started it is gone or after helper_lifetime.
int serve_pubsub_proxy(const std::string& xsub_endpoint, const std::string& xpub_endpoint, int hwm);

}  // namespace starbus::bench
