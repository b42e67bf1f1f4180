// File: bench_support.cpp
// Clusters of broker processes, statistics and tables for the benchmarks
// (bench_support.hpp).
#include "bench_support.hpp"

#include <httplib.h>
#include <zmq.hpp>

#include <starbus/security/key_files.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace starbus::bench {

// ---- locating programs ----

std::string self_path() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot read /proc/self/exe (" + ec.message() + "): pass --broker PATH");
    return p.string();
}

std::string self_dir() { return std::filesystem::path(self_path()).parent_path().string(); }

std::string default_broker_path() { return self_dir() + "/starbus-broker"; }

void require_executable(const std::string& path, const std::string& what) {
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error(what + " " + path +
                                 " is missing or not executable: build it (cmake --build ... "
                                 "--target starbus-broker) or pass its path with --broker");
}

// ---- statistics ----

summary summarize(std::vector<double> values) {
    summary s;
    s.count = values.size();
    if (values.empty()) return s;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    s.min = values.front();
    s.max = values.back();
    return s;
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
    const std::size_t i = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
    return values[i];
}

// ---- output ----

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    for (char ch : text + ",") {
        if (ch == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (ch != ' ') {
            item += ch;
        }
    }
    return out;
}

std::string fmt(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

table::table(std::vector<std::string> headers) : _headers(std::move(headers)) {}

void table::add(std::vector<std::string> row) {
    row.resize(_headers.size());
    _rows.push_back(std::move(row));
}

void table::print() const {
    std::vector<std::size_t> width(_headers.size());
    for (std::size_t c = 0; c < _headers.size(); ++c) {
        width[c] = _headers[c].size();
        for (const auto& r : _rows) width[c] = std::max(width[c], r[c].size());
    }
    std::ostringstream out;
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t c = 0; c < cells.size(); ++c) {
            // First column left-aligned (labels), the others right-aligned (figures).
            const std::size_t pad = width[c] - cells[c].size();
            if (c == 0) out << cells[c] << std::string(pad, ' ');
            else out << "  " << std::string(pad, ' ') << cells[c];
        }
        out << "\n";
    };
    line(_headers);
    std::size_t total = 0;
    for (auto w : width) total += w + 2;
    out << std::string(total - 2, '-') << "\n";
    for (const auto& r : _rows) line(r);
    std::cout << out.str() << std::flush;
}

// ---- child processes that do not outlive the benchmark ----

namespace {

// The only process-wide state of a benchmark: the children a signal handler
// must kill (0: a free slot). Lock-free atomics, so the handler may read them.
std::array<std::atomic<pid_t>, 256> tracked_children{};

void track_child(pid_t pid) {
    for (auto& slot : tracked_children) {
        pid_t free_slot = 0;
        if (slot.compare_exchange_strong(free_slot, pid)) return;
    }
}

void untrack_child(pid_t pid) {
    for (auto& slot : tracked_children) {
        pid_t mine = pid;
        if (slot.compare_exchange_strong(mine, 0)) return;
    }
}

extern "C" void on_stop_signal(int sig) {
    for (auto& slot : tracked_children)
        if (const pid_t pid = slot.load(); pid > 0) ::kill(pid, SIGKILL);
    ::_exit(128 + sig);
}

}  // namespace

void install_exit_handlers() {
    static_assert(std::atomic<pid_t>::is_always_lock_free);
    std::signal(SIGPIPE, SIG_IGN);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_stop_signal);
}

void tracked_process::start(const std::vector<std::string>& argv, const std::string& log_path) {
    kill();
    _process.start(argv, log_path);
    track_child(_process.pid());
}

void tracked_process::kill() {
    if (_process.pid() > 0) untrack_child(_process.pid());
    _process.kill_now();
}

bool tracked_process::stop(std::chrono::milliseconds grace) {
    const pid_t pid = _process.pid();
    if (pid <= 0) return true;
    _process.signal(SIGTERM);
    const bool exited = _process.wait_exit(grace).has_value();
    if (!exited) _process.kill_now();
    untrack_child(pid);
    return exited;
}

bool tracked_process::running() {
    const pid_t pid = _process.pid();
    if (_process.running()) return true;
    if (pid > 0) untrack_child(pid);  // it exited by itself and was reaped
    return false;
}

// ---- a cluster of broker processes ----

bench_cluster::bench_cluster(std::string broker_path, cluster_settings settings)
    : _broker_path(std::move(broker_path)),
      _log_dir(settings.log_dir.empty() ? _dir.path().string() : settings.log_dir),
      _cluster_file((_dir.path() / "cluster.toml").string()) {
    std::filesystem::create_directories(_log_dir);
    const std::string host = test::random_loopback_host();
    const int base_port = test::random_base_port();
    {
        std::ofstream f(_cluster_file);
        f << "heartbeat_ms = " << settings.heartbeat_ms << "\n";
        f << "fsync = \"" << settings.fsync << "\"\n";
        f << "ack = \"" << settings.ack << "\"\n";
        f << settings.extra;
        if (settings.curve) {
            _client_key = generate_curve_key_pair();
            f << "\n[security]\nmode = \"curve\"\n\n[[client]]\nname = \"bench\"\nrole = \"admin\"\npublic_key = \""
              << _client_key.public_key << "\"\n";
        }
        for (std::size_t i = 0; i < settings.brokers; ++i) {
            const std::string name(1, static_cast<char>('A' + i));
            f << "\n[[broker]]\nname = \"" << name << "\"\nendpoint = \"tcp://" << host << ":"
              << (base_port + 10 * static_cast<int>(i)) << "\"\n";
            if (settings.scrape_ms > 0)
                f << "http = \"" << host << ":" << (base_port + 10 * static_cast<int>(i) + 5) << "\"\n";
            if (settings.curve) {
                const curve_key_pair k = generate_curve_key_pair();
                (void)write_key_files(_dir.path(), name, k, true);
                f << "public_key = \"" << k.public_key << "\"\n";
            }
        }
    }
    _config = load_cluster_file(_cluster_file);
    _procs.resize(_config.brokers.size());
    if (settings.scrape_ms > 0) {
        std::vector<std::string> endpoints;
        for (const auto& b : _config.brokers) endpoints.push_back(b.http);
        _scraper = std::make_unique<metrics_scraper>(endpoints, std::chrono::milliseconds(settings.scrape_ms));
    }
    _probe = std::make_unique<client>(options());
    for (const auto& b : _config.brokers) {
        client_options one = options();
        one.cluster.brokers = {b};
        _single.push_back(std::make_unique<client>(one));
    }
}

metrics_scraper::metrics_scraper(std::vector<std::string> endpoints, std::chrono::milliseconds interval)
    : _thread([this, endpoints = std::move(endpoints), interval] {
          std::vector<std::unique_ptr<httplib::Client>> clients;
          for (const auto& e : endpoints) {
              const auto colon = e.rfind(':');
              clients.push_back(std::make_unique<httplib::Client>(e.substr(0, colon), std::stoi(e.substr(colon + 1))));
              clients.back()->set_connection_timeout(0, 200000);
              clients.back()->set_read_timeout(1, 0);
          }
          auto next = std::chrono::steady_clock::now();
          while (!_stop.load()) {
              for (auto& c : clients) {
                  auto res = c->Get("/metrics");
                  ++(res && res->status == 200 ? _ok : _failed);
              }
              next += interval;
              while (!_stop.load() && std::chrono::steady_clock::now() < next)
                  std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
      }) {}

metrics_scraper::~metrics_scraper() {
    _stop = true;
    _thread.join();
}

bench_cluster::~bench_cluster() {
    _scraper.reset();
    // Clients first (their sockets), then the brokers (tracked_process kills them).
    _single.clear();
    _probe.reset();
    _procs.clear();
}

std::size_t bench_cluster::index_of(const std::string& name) const {
    for (std::size_t i = 0; i < _config.brokers.size(); ++i)
        if (_config.brokers[i].name == name) return i;
    return _config.brokers.size();
}

std::string bench_cluster::describe() const {
    std::string s = std::to_string(size()) + " broker(s) at " + _config.brokers.front().endpoint;
    s += ", heartbeat " + std::to_string(_config.heartbeat.count()) + " ms";
    s += std::string(", fsync ") + (_config.fsync == fsync_mode::batch ? "batch" : "never");
    return s;
}

client_options bench_cluster::options() const {
    client_options o;
    o.cluster = _config;
    o.key = _client_key;
    return o;
}

void bench_cluster::start(std::size_t i) {
    const std::string name = _config.brokers[i].name;
    std::vector<std::string> argv = {_broker_path, "--cluster", _cluster_file, "--name", name, "--data-dir",
                                     (_dir.path() / ("data-" + name)).string(), "--log-level", "info"};
    if (_config.curve()) argv.insert(argv.end(), {"--key", (_dir.path() / (name + ".key")).string()});
    _procs[i].start(argv, log_path(i));
}

std::string bench_cluster::log_path(std::size_t i) const {
    return (std::filesystem::path(_log_dir) / (_config.brokers[i].name + ".log")).string();
}

void bench_cluster::start_all() {
    for (std::size_t i = 0; i < size(); ++i) start(i);
}

void bench_cluster::kill(std::size_t i) { _procs[i].kill(); }

bool bench_cluster::running(std::size_t i) { return _procs[i].running(); }

bool bench_cluster::stop(std::size_t i, std::chrono::milliseconds grace) { return _procs[i].stop(grace); }

std::filesystem::path bench_cluster::data_dir(std::size_t i) const {
    return _dir.path() / ("data-" + _config.brokers[i].name);
}

std::vector<broker_status> bench_cluster::status(std::chrono::milliseconds timeout) {
    return _probe->status_all(timeout);
}

std::optional<broker_status> bench_cluster::status_of(std::size_t i, std::chrono::milliseconds timeout) {
    auto rows = _single[i]->status_all(timeout);
    if (rows.empty() || !rows.front().reachable) return std::nullopt;
    return rows.front();
}

bool bench_cluster::wait_settled(std::size_t active, std::chrono::milliseconds timeout) {
    return test::wait_until(
        [&] {
            static_cast<void>(
                _probe->set("bench.probe", "x", change_class::operational, std::chrono::milliseconds(300)));
            const auto rows = status(std::chrono::milliseconds(300));
            for (std::size_t i = 0; i < rows.size(); ++i) {
                const bool want_active = i == active;
                if (!want_active && !running(i)) continue;  // a broker that is down is not waited for
                if (!rows[i].reachable) return false;
                if (rows[i].state != (want_active ? broker_state::active : broker_state::passive)) return false;
            }
            return true;
        },
        timeout, std::chrono::milliseconds(20));
}

std::string bench_cluster::log_tail(std::size_t lines) const {
    std::string all;
    for (std::size_t i = 0; i < _config.brokers.size(); ++i) {
        const auto& b = _config.brokers[i];
        std::ifstream f(log_path(i));
        std::vector<std::string> kept;
        for (std::string line; std::getline(f, line);) kept.push_back(line);
        all += "---- " + b.name + " ----\n";
        for (std::size_t k = kept.size() > lines ? kept.size() - lines : 0; k < kept.size(); ++k) all += kept[k] + "\n";
    }
    return all;
}

// ---- helpers for workloads ----

std::string make_key(const std::string& prefix, std::uint64_t n, std::size_t bytes) {
    std::string digits = std::to_string(n);
    std::string key = prefix;
    if (key.size() + digits.size() < bytes) key += std::string(bytes - key.size() - digits.size(), '0');
    key += digits;
    return key;
}

std::string make_value(char tag, std::size_t bytes) {
    std::string v(bytes, 'v');
    if (!v.empty()) v[0] = tag;
    return v;
}

double fdatasync_micros(int samples) {
    const test::temp_dir dir;
    const std::string path = (dir.path() / "fdatasync-probe").string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return -1;
    const std::string block(256, 'x');
    std::vector<double> us;
    for (int i = 0; i < samples; ++i) {
        const auto t0 = clock::now();
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0)
            break;
        us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    }
    ::close(fd);
    return summarize(us).median;
}

bool parent_gone(pid_t original_parent) { return ::getppid() != original_parent; }

// ---- sizes of processes and directories ----

std::uint64_t resident_bytes(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
    return 0;
}

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
    std::error_code ec;
    std::uint64_t total = 0;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != decltype(it){};
         it.increment(ec))
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    return total;
}

bool tcp_accepts(const std::string& endpoint) {
    // tcp://HOST:PORT with a numeric IPv4 host (the benchmarks' random loopback addresses).
    const auto colon = endpoint.rfind(':');
    const std::string host = endpoint.substr(6, colon - 6);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return false;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

// ---- the raw PUB/SUB baseline ----

int serve_pubsub_proxy(const std::string& xsub_endpoint, const std::string& xpub_endpoint, int hwm) {
    const pid_t parent = ::getppid();
    zmq::context_t ctx(1);
    zmq::socket_t xsub(ctx, zmq::socket_type::xsub);
    zmq::socket_t xpub(ctx, zmq::socket_type::xpub);
    zmq::socket_t control(ctx, zmq::socket_type::pair);
    for (zmq::socket_t* s : {&xsub, &xpub, &control}) s->set(zmq::sockopt::linger, 0);
    xsub.set(zmq::sockopt::rcvhwm, hwm);
    xsub.set(zmq::sockopt::sndhwm, hwm);
    xpub.set(zmq::sockopt::sndhwm, hwm);
    xpub.set(zmq::sockopt::rcvhwm, hwm);
    xsub.bind(xsub_endpoint);
    xpub.bind(xpub_endpoint);
    control.bind("inproc://control");
    std::atomic<bool> done{false};
    // Bounded life: stop when the benchmark is gone, or after helper_lifetime.
    std::thread watchdog([&] {
        zmq::socket_t c(ctx, zmq::socket_type::pair);
        c.set(zmq::sockopt::linger, 0);
        c.connect("inproc://control");
        const auto until = clock::now() + helper_lifetime;
        while (!done.load() && !parent_gone(parent) && clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        static_cast<void>(c.send(zmq::str_buffer("TERMINATE"), zmq::send_flags::dontwait));
    });
    try {
        zmq::proxy_steerable(xsub, xpub, zmq::socket_ref(), control);
    } catch (const zmq::error_t& e) {
        std::cerr << "proxy stopped: " << e.what() << "\n";
    }
    done = true;
    watchdog.join();
    return 0;
}

}  // namespace starbus::bench
