// File: broker_fleet.cpp
// Broker processes, their process faults and their supervision (see
// broker_fleet.hpp).
#include "broker_fleet.hpp"

#include <signal.h>

#include <algorithm>

namespace starbus::chaos {

broker_fleet::broker_fleet(std::vector<broker_spec> brokers, std::string broker_program, std::string cluster_file,
                           timeline& events)
    : _program(std::move(broker_program)), _cluster_file(std::move(cluster_file)), _events(events) {
    for (auto& b : brokers) _members.push_back(member{std::move(b), {}, true, false, 0, {}, false});
}

broker_fleet::~broker_fleet() { kill_all(); }

void broker_fleet::start(std::size_t i) {
    member& m = _members.at(i);
    if (m.proc.running()) return;
    m.proc.start(m.spec.netns,
                 {_program, "--cluster", _cluster_file, "--name", m.spec.name, "--data-dir", m.spec.data_dir.string()},
                 m.spec.log_path);
    m.held_down = false;
    m.frozen = false;
    m.restart_pending = false;
}

void broker_fleet::start_all() {
    for (std::size_t i = 0; i < _members.size(); ++i) start(i);
}

void broker_fleet::kill(std::size_t i) {
    member& m = _members.at(i);
    m.held_down = true;
    m.frozen = false;
    m.restart_pending = false;
    m.failures = 0;
    m.proc.kill_now();
}

void broker_fleet::freeze(std::size_t i) {
    member& m = _members.at(i);
    if (!m.proc.running()) return;
    m.proc.signal(SIGSTOP);
    m.frozen = true;
}

void broker_fleet::thaw(std::size_t i) {
    member& m = _members.at(i);
    m.proc.signal(SIGCONT);
    m.frozen = false;
}

bool broker_fleet::running(std::size_t i) { return _members.at(i).proc.running(); }

void broker_fleet::supervise() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& m : _members) {
        if (m.held_down) continue;
        if (m.restart_pending) {
            if (now < m.restart_at) continue;
            m.restart_pending = false;
            m.proc.start(
                m.spec.netns,
                {_program, "--cluster", _cluster_file, "--name", m.spec.name, "--data-dir", m.spec.data_dir.string()},
                m.spec.log_path);
            ++_restarts;
            _events.add("supervisor: restarted broker " + m.spec.name);
            continue;
        }
        if (m.proc.running()) continue;
        // It exited without being asked to: restart it after a pause,
        // doubling (up to 4 s) while it keeps failing.
        ++m.failures;
        const auto pause = std::chrono::milliseconds(std::min(4000, 500 << std::min(m.failures - 1, 3)));
        m.restart_at = now + pause;
        m.restart_pending = true;
        m.frozen = false;
        _events.add("supervisor: broker " + m.spec.name + " exited on its own (" +
                    (m.proc.last_status() ? describe_status(*m.proc.last_status()) : std::string("?")) +
                    "); restarting in " + std::to_string(pause.count()) + " ms (see " + m.spec.log_path + ")");
    }
}

void broker_fleet::kill_all() {
    for (auto& m : _members) {
        m.proc.kill_now();
        m.held_down = true;
        m.restart_pending = false;
    }
}

}  // namespace starbus::chaos
