// File: schedule.hpp
// The fault schedule of a chaos run: which fault starts when, on which
// broker or host, and when it heals. It is a pure function of its
// parameters (the seed first among them): no clock, no I/O, so a failing
// run is reproduced by its seed alone, and the unit tests can check the
// schedule's rules without a cluster.
//
// Faults come one at a time, separated by quiet gaps, so that every
// violation can be tied to the fault that was active (Jepsen's nemesis
// alternates start and stop the same way). Hosts are numbered brokers
// first (0..brokers-1, in rank order), then the client hosts.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starbus::chaos {

enum class fault_kind : std::uint8_t {
    kill,       // SIGKILL a broker; restarted on its data directory at the heal
    stop,       // SIGSTOP a broker (a frozen process); SIGCONT at the heal
    partition,  // cut every path between two groups of hosts; restored at the heal
    netem,      // delay, jitter and loss on one host's link
    disk,       // fill one broker's data disk; the ballast is removed at the heal
};
[[nodiscard]] std::string_view to_string(fault_kind k);
[[nodiscard]] std::optional<fault_kind> parse_fault_kind(std::string_view s);
// "kill,stop,partition" -> kinds; nullopt (and `bad` set) for an unknown name.
[[nodiscard]] std::optional<std::vector<fault_kind>> parse_fault_kinds(std::string_view list, std::string& bad);
[[nodiscard]] std::vector<fault_kind> all_fault_kinds();

struct fault {
    fault_kind kind = fault_kind::kill;
    std::chrono::milliseconds start{0};  // since the run began
    std::chrono::milliseconds end{0};    // when it heals (> start)
    std::size_t target = 0;              // kill, stop, disk: a broker; netem: any host
    std::vector<std::size_t> side_a;     // partition: one group (sorted), the other is side_b;
    std::vector<std::size_t> side_b;     // together they list every host once
    int delay_ms = 0;                    // netem: one-way delay, jitter (+/-) and loss per direction
    int jitter_ms = 0;
    int loss_pct = 0;

    friend bool operator==(const fault&, const fault&) = default;
};

struct schedule_params {
    std::uint64_t seed = 1;
    std::chrono::milliseconds duration{60000};  // the whole run; every fault heals before its end
    std::size_t brokers = 3;
    std::size_t other_hosts = 4;  // client hosts (workers and subscribers)
    std::vector<fault_kind> kinds = all_fault_kinds();
    std::chrono::milliseconds quiet_start{3000};  // no fault before: the cluster settles first
    std::chrono::milliseconds quiet_end{2000};    // no fault in the last stretch either
    std::chrono::milliseconds min_fault{2000};    // how long a fault lasts
    std::chrono::milliseconds max_fault{8000};
    std::chrono::milliseconds min_gap{1500};  // quiet between two faults: restarted brokers resync
    std::chrono::milliseconds max_gap{5000};
};

// The faults, in start order, none overlapping another. Empty when no kind
// is enabled or the run is too short for one fault.
[[nodiscard]] std::vector<fault> make_schedule(const schedule_params& p);

// One line for logs and timelines, with hosts named: "partition {A c1} | {B C c2 s1}".
[[nodiscard]] std::string describe(const fault& f, const std::vector<std::string>& host_names);

}  // namespace starbus::chaos
