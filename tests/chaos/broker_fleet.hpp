// File: broker_fleet.hpp
// The brokers of a chaos run, each a starbus-broker process in its host's
// namespace with its data directory on its own disk, and the harness's
// handle on them for the process faults: SIGKILL and restart, SIGSTOP and
// SIGCONT. It also supervises them as an init system would: a broker that
// exits on its own (a full disk makes it stop with a storage error) is
// restarted after a pause, growing while it keeps failing, and every exit
// and restart goes into the timeline. A broker the harness killed stays
// down until the harness starts it.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "proc.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace starbus::chaos {

struct broker_spec {
    std::string name;   // as in the cluster file
    std::string netns;  // its host
    std::filesystem::path data_dir;
    std::string log_path;  // stdout and stderr, appended across restarts
};

class broker_fleet {
  public:
    broker_fleet(std::vector<broker_spec> brokers, std::string broker_program, std::string cluster_file,
                 timeline& events);
    ~broker_fleet();
    broker_fleet(const broker_fleet&) = delete;
    broker_fleet& operator=(const broker_fleet&) = delete;

    [[nodiscard]] std::size_t size() const { return _members.size(); }
    [[nodiscard]] const broker_spec& spec(std::size_t i) const { return _members.at(i).spec; }

    void start(std::size_t i);  // also lifts a hold-down
    void start_all();
    void kill(std::size_t i);    // SIGKILL, reaped; held down until start()
    void freeze(std::size_t i);  // SIGSTOP
    void thaw(std::size_t i);    // SIGCONT
    [[nodiscard]] bool running(std::size_t i);
    [[nodiscard]] bool frozen(std::size_t i) const { return _members.at(i).frozen; }
    [[nodiscard]] bool held_down(std::size_t i) const { return _members.at(i).held_down; }
    // Restarts brokers that exited on their own, when their pause is over.
    void supervise();
    // SIGKILL every broker (thawing none: SIGKILL ends a stopped process too).
    void kill_all();
    [[nodiscard]] int restarts() const { return _restarts; }

  private:
    struct member {
        broker_spec spec;
        ns_process proc;
        bool held_down = true;  // not started yet, or killed by the harness
        bool frozen = false;
        int failures = 0;  // exits in a row without the harness asking
        std::chrono::steady_clock::time_point restart_at{};
        bool restart_pending = false;
    };
    std::vector<member> _members;
    std::string _program;
    std::string _cluster_file;
    timeline& _events;
    int _restarts = 0;
};

}  // namespace starbus::chaos
