// File: process.hpp
// Child processes for multi-process tests: start a program with arguments,
// capture its output, signal it (SIGKILL for real crashes), and wait for its
// exit with a deadline. Every wait is bounded; a child still running when its
// owner goes away is killed.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace starbus::test {

// A long-running child (a broker) whose stdout and stderr go to a log file.
class child_process {
  public:
    child_process() = default;
    child_process(const std::vector<std::string>& argv, const std::string& log_path) { start(argv, log_path); }
    ~child_process() { kill_now(); }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    child_process(child_process&& o) noexcept : _pid(o._pid) { o._pid = -1; }
    child_process& operator=(child_process&& o) noexcept {
        if (this != &o) {
            kill_now();
            _pid = o._pid;
            o._pid = -1;
        }
        return *this;
    }

    void start(const std::vector<std::string>& argv, const std::string& log_path) {
        kill_now();
        _pid = ::fork();
        if (_pid < 0) throw std::runtime_error("fork failed");
        if (_pid == 0) {
            int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
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
    }

    [[nodiscard]] bool running() {
        if (_pid <= 0) return false;
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == _pid) {
            _pid = -1;
            _exit_status = status;
            return false;
        }
        return true;
    }

    void signal(int sig) {
        if (_pid > 0) ::kill(_pid, sig);
    }

    // Waits for the child to exit; returns its wait status, or nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!running()) return _exit_status;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return std::nullopt;
    }

    // SIGKILL and reap: a crash, as far as the child can tell.
    void kill_now() {
        if (_pid <= 0) return;
        ::kill(_pid, SIGKILL);
        int status = 0;
        ::waitpid(_pid, &status, 0);
        _pid = -1;
        _exit_status = status;
    }

    [[nodiscard]] pid_t pid() const { return _pid; }

  private:
    pid_t _pid = -1;
    int _exit_status = 0;
};

struct run_result {
    int exit_code = -1;  // -1: killed at the deadline
    std::string out;
    std::string err;
    long max_rss_kib = 0;  // the child's peak resident memory (getrusage ru_maxrss)
};

// Runs a program to completion (killed at `timeout`), feeding `input` on stdin.
inline run_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                              const std::string& input = {}) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe(in_pipe) || ::pipe(out_pipe) || ::pipe(err_pipe)) throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    // Small inputs fit the pipe buffer; larger ones are written as the child reads.
    std::size_t written = 0;
    int in_fd = in_pipe[1];
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    run_result r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int open_outputs = 2;
    bool killed = false;
    while (open_outputs > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
        ::poll(fds, in_fd >= 0 ? 3 : 2, static_cast<int>(std::min<long>(left.count(), 100)));
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
            else {
                ::close(fds[i].fd);
                (i == 0 ? out_pipe[0] : err_pipe[0]) = -1;
                --open_outputs;
            }
        }
        if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    for (int fd : {out_pipe[0], err_pipe[0], in_fd})
        if (fd >= 0) ::close(fd);
    int status = 0;
    struct rusage usage {};
    ::wait4(pid, &status, 0, &usage);
    r.exit_code = killed ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    r.max_rss_kib = usage.ru_maxrss;
    return r;
}

}  // namespace starbus::test
