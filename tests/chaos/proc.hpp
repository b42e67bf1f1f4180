// File: proc.hpp
// Processes of the chaos harness: long-running children placed in a network
// namespace (brokers, workers, relays), and short commands (`ip`, `tc`, the
// starbus CLI) run to completion under a deadline.
//
// Every child gets PR_SET_PDEATHSIG(SIGKILL), so that it dies with the
// harness even when the harness itself is SIGKILLed (the next run sweeps the
// namespaces), and its own process group, so that a Ctrl-C reaches the
// harness alone and the harness tears down in order.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace starbus::chaos {

// A setup step that failed: what failed and what to do about it.
class harness_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A long-running child: `ip netns exec NETNS argv...` (or argv alone when
// netns is empty), stdout and stderr appended to a log file.
class ns_process {
  public:
    ns_process() = default;
    ~ns_process() { kill_now(); }
    ns_process(const ns_process&) = delete;
    ns_process& operator=(const ns_process&) = delete;
    ns_process(ns_process&& o) noexcept;
    ns_process& operator=(ns_process&& o) noexcept;

    void start(const std::string& netns, const std::vector<std::string>& argv, const std::string& log_path);
    // Reaps the child if it exited; false once it has.
    [[nodiscard]] bool running();
    void signal(int sig);
    // Waits up to `timeout` for the child to exit; its wait status, or nullopt.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    // SIGKILL and reap (SIGKILL also ends a stopped process).
    void kill_now();
    // SIGTERM, then SIGKILL after `grace`. Returns whether it exited within the grace.
    bool stop_gently(std::chrono::milliseconds grace);

    [[nodiscard]] pid_t pid() const { return _pid; }
    // The wait status of the last exit, once reaped.
    [[nodiscard]] std::optional<int> last_status() const { return _last_status; }

  private:
    pid_t _pid = -1;
    std::optional<int> _last_status;
};

// "exit 1", "killed by SIGKILL" for a wait status.
[[nodiscard]] std::string describe_status(int wait_status);

struct command_result {
    int exit_code = -1;  // -1: killed at the deadline (or by a signal)
    std::string out;
    std::string err;
};

// Runs argv (argv[0] looked up in PATH) to completion, killed at `timeout`,
// with `input` on its stdin.
[[nodiscard]] command_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                         const std::string& input = {});
// Same, but a non-zero exit throws harness_error naming the command, its
// stderr and `advice` (what to do next).
std::string must_run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& advice,
                     const std::string& input = {});

// The full path of a program in PATH, or "" when there is none.
[[nodiscard]] std::string find_in_path(const std::string& program);

}  // namespace starbus::chaos
