// File: topology.hpp
// The network of a chaos run: one network namespace per host (each broker,
// each client process, and a control host for the harness's own queries),
// all wired to a Linux bridge in a "switch" namespace by one veth pair per
// host, with addresses in a private /24. Nothing is connected to the
// machine's own namespace: both ends of every veth are created directly
// inside their namespaces, so the harness never adds a link to the host.
//
// Names carry the run prefix "sbc-<pid>" (namespaces sbc-<pid>-sw,
// sbc-<pid>-A, ...). The destructor deletes every namespace the topology
// created, which also destroys their links; sweep_leftovers() removes what a
// run that died without its destructor (SIGKILL) left behind.
#pragma once

#include <string>
#include <vector>

namespace starbus::chaos {

struct host {
    std::string name;     // "A", "c1", "ctl"
    std::string netns;    // "sbc-1234-A"
    std::string address;  // "10.99.0.11"
    std::string port;     // its veth end in the switch namespace ("p-A")
};

class topology {
  public:
    // The prefix of every name this process creates: "sbc-<pid>".
    [[nodiscard]] static std::string run_prefix();
    // What every chaos run's names start with.
    static constexpr const char* harness_prefix = "sbc-";
    static constexpr const char* subnet = "10.99.0";  // the hosts' /24
    static constexpr const char* host_if = "eth0";    // each host's link, inside its namespace

    // Creates the switch and one host per name; addresses are given in
    // order from .11. Throws harness_error, after removing what it created.
    explicit topology(const std::vector<std::string>& host_names);
    ~topology();
    topology(const topology&) = delete;
    topology& operator=(const topology&) = delete;

    [[nodiscard]] const std::vector<host>& hosts() const { return _hosts; }
    [[nodiscard]] const host& at(std::size_t i) const { return _hosts.at(i); }
    [[nodiscard]] const host& by_name(const std::string& name) const;
    [[nodiscard]] const std::string& switch_netns() const { return _switch; }
    static constexpr const char* bridge = "br0";

    // Deletes every namespace created (idempotent; never throws).
    void teardown() noexcept;

  private:
    void add_host(const std::string& name, const std::string& address);

    std::string _prefix;
    std::string _switch;
    std::vector<host> _hosts;
    std::vector<std::string> _created;  // namespaces, in creation order
};

// Removes the namespaces, and the tmpfs mounts whose source names start with
// the harness prefix, of chaos runs whose process is gone: first killing any
// process still inside those namespaces (only leftovers of an earlier run of
// this harness live there). Returns one line per thing removed.
std::vector<std::string> sweep_leftovers();

}  // namespace starbus::chaos
