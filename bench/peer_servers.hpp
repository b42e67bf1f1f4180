// File: peer_servers.hpp
// The server processes of the peers starbus-bench-peers compares with
// (nats-server, redis-server): found on the PATH (Debian installs
// nats-server in /usr/sbin), started on a loopback address in the
// benchmark's temporary directory, and stopped when the benchmark ends.
//
// Unlike bench_support's tracked_process (SIGKILL at once, right for brokers
// whose crash is the point), a peer is stopped politely: SIGTERM, then
// SIGKILL after a grace period. And it is started with PR_SET_PDEATHSIG, so it
// dies with the benchmark however the benchmark ends (SIGINT, an exception,
// even SIGKILL): no nats-server or redis-server is ever left behind. On SIGINT,
// SIGTERM or SIGHUP the benchmark stops them politely too
// (install_peer_exit_handlers), like a normal exit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace starbus::bench {

class server_process {
  public:
    // Starts argv (argv[0] a path) with stdout and stderr appended to log_path.
    server_process(const std::vector<std::string>& argv, std::string log_path);
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    // SIGTERM, wait up to `grace` for the exit, then SIGKILL; reaps it.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(3));
    [[nodiscard]] bool running();
    [[nodiscard]] const std::string& log_path() const { return _log_path; }
    // The last lines of its log, for an error message.
    [[nodiscard]] std::string log_tail(std::size_t lines = 15) const;

  private:
    pid_t _pid = -1;
    std::string _log_path;
};

// After bench_support's install_exit_handlers(): SIGINT, SIGTERM and SIGHUP
// send SIGTERM to every running server_process, wait up to 2 s for them to
// exit (SIGKILL for the rest), then exit the benchmark (status 128 + signal).
// The temporary directory stays behind, as with the other benchmarks.
void install_peer_exit_handlers();

// The full path of `name` (searched in $PATH, /usr/sbin and /usr/bin), or a
// path given with a slash as is. Throws, naming the Debian package to
// install, when there is none.
[[nodiscard]] std::string find_program(const std::string& name, const std::string& package);

// Waits until host:port accepts a TCP connection. Throws (with the server's
// log tail) when the process exits first or `timeout` passes.
void wait_listening(server_process& server, const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace starbus::bench
