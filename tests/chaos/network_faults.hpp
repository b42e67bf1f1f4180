// File: network_faults.hpp
// The network faults of a chaos run, on top of a topology:
//
//   partition  blackhole routes, in each host's namespace, for the addresses
//              of every host on the other side: packets across the cut are
//              dropped silently, as on a broken link (TCP keeps retrying and
//              resumes when the routes go).
//   shaping    delay, jitter and loss on one host's link, both directions.
//              With `tc netem` where the kernel has sch_netem; otherwise with
//              starbus-chaos-relay, a bump in the wire that the harness
//              splices between the host's switch port and the bridge (the
//              project VM's kernel is built without sch_netem).
//
// Every change is undone by heal_all() and by the destructor.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proc.hpp"
#include "topology.hpp"

namespace starbus::chaos {

enum class shaper_kind : std::uint8_t {
    netem,  // tc qdisc netem on both ends of the host's veth
    relay,  // starbus-chaos-relay between the host's port and the bridge
};
[[nodiscard]] std::string_view to_string(shaper_kind k);

// Whether this kernel has sch_netem, tried on a throwaway veth in `netns`.
[[nodiscard]] bool netem_available(const std::string& netns);

struct shaping {
    int delay_ms = 0;
    int jitter_ms = 0;
    int loss_pct = 0;
    std::uint64_t seed = 1;  // relay only: its loss and jitter draws
};

class network_faults {
  public:
    network_faults(const topology& net, shaper_kind kind, std::string relay_program, std::string log_dir);
    ~network_faults();
    network_faults(const network_faults&) = delete;
    network_faults& operator=(const network_faults&) = delete;

    // Cuts every path between the two groups (host indices in the topology).
    void partition(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b);
    void heal_partition();

    void shape(std::size_t host, const shaping& s);
    void unshape(std::size_t host);

    // Removes every fault (never throws; failures are returned as lines).
    std::vector<std::string> heal_all() noexcept;
    [[nodiscard]] shaper_kind kind() const { return _kind; }

  private:
    void routes(const std::string& verb, const std::vector<std::size_t>& a, const std::vector<std::size_t>& b);

    const topology& _net;
    shaper_kind _kind;
    std::string _relay_program;
    std::string _log_dir;
    std::vector<std::size_t> _cut_a, _cut_b;                     // the partition in force, if any
    std::map<std::size_t, std::unique_ptr<ns_process>> _relays;  // shaped hosts (relay) -> relay process
    std::vector<std::size_t> _netem_hosts;                       // shaped hosts (netem)
};

}  // namespace starbus::chaos
