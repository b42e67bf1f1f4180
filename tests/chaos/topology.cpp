// File: topology.cpp
// Namespaces, bridge and veth pairs of a chaos run, and the sweep of an
// earlier run's leftovers (see topology.hpp).
#include "topology.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "proc.hpp"

namespace starbus::chaos {

namespace {

using namespace std::chrono_literals;

constexpr auto ip_timeout = 10s;
const std::string ip_advice = "is this root on Linux with iproute2 (ip netns) installed?";

void ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    must_run(argv, ip_timeout, ip_advice);
}

// The pid in "sbc-<pid>-rest", or 0.
pid_t owner_of(const std::string& name) {
    const std::string p = topology::harness_prefix;
    if (name.rfind(p, 0) != 0) return 0;
    std::size_t end = p.size();
    pid_t pid = 0;
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') pid = pid * 10 + (name[end++] - '0');
    return (end < name.size() && name[end] == '-') ? pid : 0;
}

// Whether `pid` is a live chaos driver (a recycled pid running something else does not count).
bool driver_alive(pid_t pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.rfind("starbus-chaos", 0) == 0;
}

}  // namespace

std::string topology::run_prefix() { return std::string(harness_prefix) + std::to_string(::getpid()); }

topology::topology(const std::vector<std::string>& host_names) : _prefix(run_prefix()) {
    try {
        _switch = _prefix + "-sw";
        ip({"netns", "add", _switch});
        _created.push_back(_switch);
        ip({"-n", _switch, "link", "add", bridge, "type", "bridge"});
        ip({"-n", _switch, "link", "set", bridge, "up"});
        ip({"-n", _switch, "link", "set", "lo", "up"});
        int next = 11;
        for (const auto& name : host_names) add_host(name, std::string(subnet) + "." + std::to_string(next++));
    } catch (...) {
        teardown();
        throw;
    }
}

topology::~topology() { teardown(); }

void topology::add_host(const std::string& name, const std::string& address) {
    host h{name, _prefix + "-" + name, address, "p-" + name};
    if (h.port.size() > 15) throw harness_error("host name " + name + " is too long for an interface name");
    ip({"netns", "add", h.netns});
    _created.push_back(h.netns);
    // Both ends are created inside their namespaces: nothing touches the machine's own.
    ip({"link", "add", host_if, "netns", h.netns, "type", "veth", "peer", "name", h.port, "netns", _switch});
    ip({"-n", _switch, "link", "set", h.port, "master", bridge, "up"});
    ip({"-n", h.netns, "addr", "add", address + "/24", "dev", host_if});
    ip({"-n", h.netns, "link", "set", host_if, "up"});
    ip({"-n", h.netns, "link", "set", "lo", "up"});
    _hosts.push_back(std::move(h));
}

const host& topology::by_name(const std::string& name) const {
    for (const auto& h : _hosts)
        if (h.name == name) return h;
    throw harness_error("no host named " + name + " in this run");
}

void topology::teardown() noexcept {
    // Hosts first, the switch last; a namespace's links go with it.
    for (auto it = _created.rbegin(); it != _created.rend(); ++it) {
        try {
            (void)run_command({"ip", "netns", "del", *it}, ip_timeout);
        } catch (...) {
        }
    }
    _created.clear();
}

std::vector<std::string> sweep_leftovers() {
    std::vector<std::string> done;
    const command_result list = run_command({"ip", "netns", "list"}, ip_timeout);
    std::istringstream lines(list.out);
    for (std::string line; std::getline(lines, line);) {
        const std::string name = line.substr(0, line.find(' '));
        const pid_t owner = owner_of(name);
        if (owner == 0 || owner == ::getpid() || driver_alive(owner)) continue;
        // Processes of the dead run that survived it (PDEATHSIG normally prevents this).
        const command_result pids = run_command({"ip", "netns", "pids", name}, ip_timeout);
        std::istringstream ps(pids.out);
        for (pid_t p = 0; ps >> p;) {
            ::kill(p, SIGKILL);
            done.push_back("killed leftover process " + std::to_string(p) + " in " + name);
        }
        if (run_command({"ip", "netns", "del", name}, ip_timeout).exit_code == 0)
            done.push_back("deleted leftover namespace " + name);
    }
    // tmpfs data disks: their mount source is "sbc-<pid>-<broker>".
    std::ifstream mounts("/proc/self/mounts");
    std::vector<std::pair<std::string, std::string>> stale;
    for (std::string source, target, rest; mounts >> source >> target && std::getline(mounts, rest);) {
        const pid_t owner = owner_of(source);
        if (owner != 0 && owner != ::getpid() && !driver_alive(owner)) stale.emplace_back(source, target);
    }
    for (auto it = stale.rbegin(); it != stale.rend(); ++it)
        if (::umount2(it->second.c_str(), MNT_DETACH) == 0) done.push_back("unmounted leftover " + it->second);
    return done;
}

}  // namespace starbus::chaos
