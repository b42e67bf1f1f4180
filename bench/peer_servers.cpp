// File: peer_servers.cpp
// Peer server processes for starbus-bench-peers (peer_servers.hpp).
#include "peer_servers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace starbus::bench {

namespace {

// The only process-wide state: the servers a signal handler must stop (0: a
// free slot). Lock-free atomics, so the handler may read them.
std::array<std::atomic<pid_t>, 32> running_servers{};

void remember(pid_t pid) {
    for (auto& slot : running_servers) {
        pid_t free_slot = 0;
        if (slot.compare_exchange_strong(free_slot, pid)) return;
    }
}

void forget(pid_t pid) {
    for (auto& slot : running_servers) {
        pid_t mine = pid;
        if (slot.compare_exchange_strong(mine, 0)) return;
    }
}

// Only async-signal-safe calls: kill, waitpid, nanosleep, _exit.
extern "C" void stop_servers_and_exit(int sig) {
    for (auto& slot : running_servers)
        if (const pid_t pid = slot.load(); pid > 0) ::kill(pid, SIGTERM);
    for (int tick = 0; tick < 200; ++tick) {  // 2 s at most
        bool any = false;
        for (auto& slot : running_servers) {
            const pid_t pid = slot.load();
            if (pid <= 0) continue;
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) slot.store(0);
            else any = true;
        }
        if (!any) break;
        const timespec ten_ms{0, 10'000'000};
        ::nanosleep(&ten_ms, nullptr);
    }
    for (auto& slot : running_servers)
        if (const pid_t pid = slot.load(); pid > 0) ::kill(pid, SIGKILL);
    ::_exit(128 + sig);
}

}  // namespace

void install_peer_exit_handlers() {
    static_assert(std::atomic<pid_t>::is_always_lock_free);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, stop_servers_and_exit);
}

server_process::server_process(const std::vector<std::string>& argv, std::string log_path)
    : _log_path(std::move(log_path)) {
    const pid_t parent = ::getpid();
    _pid = ::fork();
    if (_pid < 0) throw std::runtime_error("fork failed starting " + argv.at(0));
    if (_pid == 0) {
        // Die with the benchmark, however it ends; and not start at all if it is already gone.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        // A Ctrl-C reaches the whole process group: the benchmark stops us itself, politely.
        ::signal(SIGINT, SIG_IGN);
        const int fd = ::open(_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    remember(_pid);
}

void server_process::stop(std::chrono::milliseconds grace) {
    if (_pid <= 0) return;
    forget(_pid);
    ::kill(_pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(_pid, &status, WNOHANG) == _pid) {
            _pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(_pid, SIGKILL);
    ::waitpid(_pid, &status, 0);
    _pid = -1;
}

bool server_process::running() {
    if (_pid <= 0) return false;
    int status = 0;
    if (::waitpid(_pid, &status, WNOHANG) == _pid) {
        forget(_pid);
        _pid = -1;
        return false;
    }
    return true;
}

std::string server_process::log_tail(std::size_t lines) const {
    std::ifstream in(_log_path);
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
        last.push_back(line);
        if (last.size() > lines) last.pop_front();
    }
    std::ostringstream out;
    for (const auto& l : last) out << "  | " << l << "\n";
    return out.str();
}

std::string find_program(const std::string& name, const std::string& package) {
    if (name.find('/') != std::string::npos) {
        if (::access(name.c_str(), X_OK) == 0) return name;
        throw std::runtime_error(name + " is missing or not executable");
    }
    std::string dirs = std::getenv("PATH") ? std::getenv("PATH") : "";
    dirs += ":/usr/sbin:/usr/bin:/usr/local/bin";
    std::istringstream in(dirs);
    for (std::string dir; std::getline(in, dir, ':');) {
        if (dir.empty()) continue;
        const std::string path = dir + "/" + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    throw std::runtime_error(name + " not found: install it (apt-get install -y " + package +
                             ", or run bench/compare.sh, which does) or pass its path");
}

void wait_listening(server_process& server, const std::string& host, int port, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    while (true) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (fd >= 0) ::close(fd);
        if (ok) return;
        if (!server.running())
            throw std::runtime_error("the server logging to " + server.log_path() + " exited before listening on " +
                                     host + ":" + std::to_string(port) + ":\n" + server.log_tail());
        if (std::chrono::steady_clock::now() >= deadline)
            throw std::runtime_error("nothing listens on " + host + ":" + std::to_string(port) + " after " +
                                     std::to_string(timeout.count()) + " ms:\n" + server.log_tail());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace starbus::bench
