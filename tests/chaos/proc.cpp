// File: proc.cpp
// Children in namespaces and bounded commands (see proc.hpp).
#include "proc.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

namespace starbus::chaos {

namespace {

// In the child, after fork: die with the parent, leave its process group.
void detach_child() {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    // Undo the harness's own signal handling for the program we exec.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGPIPE, SIG_DFL);
}

[[noreturn]] void exec_or_die(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    const std::string msg = "cannot run " + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
}

}  // namespace

ns_process::ns_process(ns_process&& o) noexcept : _pid(o._pid), _last_status(o._last_status) { o._pid = -1; }

ns_process& ns_process::operator=(ns_process&& o) noexcept {
    if (this != &o) {
        kill_now();
        _pid = o._pid;
        _last_status = o._last_status;
        o._pid = -1;
    }
    return *this;
}

void ns_process::start(const std::string& netns, const std::vector<std::string>& argv, const std::string& log_path) {
    kill_now();
    std::vector<std::string> full;
    if (!netns.empty()) full = {"ip", "netns", "exec", netns};
    full.insert(full.end(), argv.begin(), argv.end());
    if (const std::string p = find_in_path(full[0]); !p.empty()) full[0] = p;
    const pid_t pid = ::fork();
    if (pid < 0) throw harness_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        detach_child();
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        const int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, 0);
        exec_or_die(full);
    }
    _pid = pid;
    _last_status.reset();
}

bool ns_process::running() {
    if (_pid <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(_pid, &status, WNOHANG);
    if (r == _pid || (r < 0 && errno == ECHILD)) {
        _pid = -1;
        _last_status = status;
        return false;
    }
    return true;
}

void ns_process::signal(int sig) {
    if (_pid > 0) ::kill(_pid, sig);
}

std::optional<int> ns_process::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return _last_status;
}

void ns_process::kill_now() {
    if (_pid <= 0) return;
    ::kill(_pid, SIGKILL);
    int status = 0;
    ::waitpid(_pid, &status, 0);
    _pid = -1;
    _last_status = status;
}

bool ns_process::stop_gently(std::chrono::milliseconds grace) {
    if (!running()) return true;
    signal(SIGCONT);  // a stopped process cannot act on SIGTERM
    signal(SIGTERM);
    if (wait_exit(grace)) return true;
    kill_now();
    return false;
}

std::string describe_status(int s) {
    if (WIFEXITED(s)) return "exit " + std::to_string(WEXITSTATUS(s));
    if (WIFSIGNALED(s)) {
        const char* name = ::sigabbrev_np(WTERMSIG(s));
        return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(s)).c_str());
    }
    return "status " + std::to_string(s);
}

std::string find_in_path(const std::string& program) {
    if (program.find('/') != std::string::npos) return program;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    // ip and tc live in sbin, which a non-login root shell may lack.
    dirs += ":/usr/sbin:/sbin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        start = end + 1;
    }
    return {};
}

command_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::string& input) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) || ::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC))
        throw harness_error(std::string("pipe failed: ") + std::strerror(errno));
    std::vector<std::string> resolved = argv;
    if (!resolved.empty()) {
        const std::string p = find_in_path(resolved[0]);
        if (!p.empty()) resolved[0] = p;
    }
    const pid_t pid = ::fork();
    if (pid < 0) throw harness_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        detach_child();
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        exec_or_die(resolved);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    int in_fd = in_pipe[1];
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    command_result r;
    int fds_out[2] = {out_pipe[0], err_pipe[0]};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool killed = false;
    while (fds_out[0] >= 0 || fds_out[1] >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd fds[3] = {{fds_out[0], POLLIN, 0}, {fds_out[1], POLLIN, 0}, {in_fd, POLLOUT, 0}};
        ::poll(fds, 3, static_cast<int>(std::min<long>(left.count(), 100)));
        for (int i = 0; i < 2; ++i) {
            if (fds_out[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[16384];
            const ssize_t n = ::read(fds_out[i], buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds_out[i]);
                fds_out[i] = -1;
            }
        }
        if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            const ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    for (int fd : {fds_out[0], fds_out[1], in_fd})
        if (fd >= 0) ::close(fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = (!killed && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string must_run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& advice,
                     const std::string& input) {
    const command_result r = run_command(argv, timeout, input);
    if (r.exit_code == 0) return r.out;
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string err = r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw harness_error("`" + cmd + "` " +
                        (r.exit_code < 0 ? "did not finish within " + std::to_string(timeout.count()) + " ms"
                                         : "failed (exit " + std::to_string(r.exit_code) + ")") +
                        (err.empty() ? "" : ": " + err) + (advice.empty() ? "" : "; " + advice));
}

}  // namespace starbus::chaos
