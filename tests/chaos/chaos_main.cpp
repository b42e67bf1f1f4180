// File: chaos_main.cpp
// starbus-chaos: the fault-injection harness's driver (tests/chaos/README.md).
//   starbus-chaos --seed N --duration S --brokers K --clients C
//                 --faults kill,stop,partition,netem,disk --bus strict|info ...
//   starbus-chaos --scenario cycles --cycles 25 ...
//   starbus-chaos --scenario cut [--cut-ms 5000] ...   (the replica cut)
//   starbus-chaos --dry-run --seed N ...      (prints the schedule only)
// Exit codes: 0 passed; 1 violations found; 2 usage; 3 the harness itself
// failed (setup, a missing program); 77 skipped (not root, or no network
// namespaces here: CTest's SKIP_RETURN_CODE); 130 interrupted.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "final_phase.hpp"
#include "proc.hpp"
#include "scenarios.hpp"
#include "topology.hpp"

namespace {

// The only process-wide state: what the signal handler may touch.
std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested.store(true); }

constexpr int exit_violations = 1;
constexpr int exit_usage = 2;
constexpr int exit_harness = 3;
constexpr int exit_skipped = 77;
constexpr int exit_interrupted = 130;

// Why this machine cannot run the harness, or "" when it can.
std::string cannot_run_here() {
    if (::geteuid() != 0)
        return "starbus-chaos needs root (it creates network namespaces and mounts tmpfs data disks); run it as root";
    if (starbus::chaos::find_in_path("ip").empty()) return "the ip command (iproute2) is not installed";
    if (starbus::chaos::find_in_path("tc").empty()) return "the tc command (iproute2) is not installed";
    const std::string probe = starbus::chaos::topology::run_prefix() + "-probe";
    const auto r = starbus::chaos::run_command({"ip", "netns", "add", probe}, std::chrono::seconds(10));
    if (r.exit_code != 0) return "`ip netns add` does not work here (" + r.err + ")";
    (void)starbus::chaos::run_command({"ip", "netns", "del", probe}, std::chrono::seconds(10));
    return {};
}

std::string shell_quote(const std::string& s) {
    if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:") ==
                          std::string::npos)
        return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

}  // namespace

int main(int argc, char** argv) {
    using namespace starbus::chaos;
    CLI::App app{
        "starbus-chaos: runs a starbus cluster in network namespaces under injected faults and checks "
        "the history (tests/chaos/README.md)"};
    scenario_options o;
    std::string scenario = "random", faults = "kill,stop,partition,netem,disk", bus = "strict";
    double duration_s = 60;
    int min_fault_ms = 2000, max_fault_ms = 8000, min_gap_ms = 1500, max_gap_ms = 5000, settle_s = 60;
    std::string run_dir, bin_dir;
    bool dry_run = false;
    app.add_option("--scenario", scenario,
                   "random (seeded faults), cycles (failover/failback) or cut (the primary cut from its backups "
                   "while clients reach all; alias replica-cut)")
        ->check(CLI::IsMember({"random", "cycles", "cut", "replica-cut"}));
    app.add_option("--seed", o.env.seed, "seed of the fault schedule and the load");
    app.add_option("--duration", duration_s, "seconds of load and faults (random scenario)")
        ->check(CLI::Range(5.0, 7.0 * 24 * 3600));
    app.add_option("--brokers", o.env.brokers, "brokers (A, B, C...)")->check(CLI::Range(1, 26));
    app.add_option("--clients", o.env.workers, "load workers, each in its own namespace")->check(CLI::Range(1, 64));
    app.add_option("--subscribers", o.env.subscribers, "subscriber processes")->check(CLI::Range(0, 16));
    app.add_option("--faults", faults, "fault kinds, comma-separated: kill,stop,partition,netem,disk");
    app.add_option("--bus", bus, "strict: a missed bus message fails the run; info: it is only counted")
        ->check(CLI::IsMember({"strict", "info"}));
    app.add_option("--cycles", o.cycles, "failover/failback cycles (cycles scenario)")->check(CLI::Range(1, 100000));
    app.add_option("--rate", o.env.rate, "operations per second per load worker (0: unpaced)");
    app.add_option("--op-timeout-ms", o.env.op_timeout_ms, "deadline of each client operation");
    app.add_option("--heartbeat-ms", o.env.heartbeat_ms, "the cluster's heartbeat (expiry is three)");
    app.add_option("--ack", o.env.ack, "the cluster's ack mode")->check(CLI::IsMember({"local", "replica", "all"}));
    app.add_option("--disk-mb", o.env.disk_mb, "size of each broker's tmpfs data disk");
    app.add_option("--shaper", o.env.shaper, "delay and loss with netem, the relay, or auto")
        ->check(CLI::IsMember({"auto", "netem", "relay"}));
    app.add_option("--min-fault-ms", min_fault_ms, "shortest fault");
    app.add_option("--max-fault-ms", max_fault_ms, "longest fault");
    app.add_option("--min-gap-ms", min_gap_ms, "shortest quiet gap between faults");
    app.add_option("--max-gap-ms", max_gap_ms, "longest quiet gap between faults");
    int cut_before_ms = 2000, cut_ms = 5000, cut_after_ms = 3000, monitor_ms = 400, sample_ms = 100;
    app.add_option("--cut-ms", cut_ms, "how long the primary stays cut from its backups (cut)")
        ->check(CLI::Range(500, 3'600'000));
    app.add_option("--cut-before-ms", cut_before_ms, "load before the cut (cut)")->check(CLI::Range(0, 3'600'000));
    app.add_option("--cut-after-ms", cut_after_ms, "load after the heal, before the final phase (cut)")
        ->check(CLI::Range(0, 3'600'000));
    app.add_option("--monitor-ms", monitor_ms, "period of the monitoring host's CLI calls (cut)")
        ->check(CLI::Range(50, 60'000));
    app.add_option("--sample-ms", sample_ms, "period of the control host's status samples (cut)")
        ->check(CLI::Range(20, 60'000));
    app.add_option("--settle-timeout-s", settle_s, "how long the healed cluster may take to settle");
    app.add_option("--run-dir", run_dir, "where logs and histories go (default /tmp/starbus-chaos/seed-N-PID)");
    app.add_option("--bin-dir", bin_dir, "where the starbus programs are (default: next to this program)");
    app.add_flag("--dry-run", dry_run, "print the fault schedule and exit");
    app.add_flag("--quiet", o.env.quiet, "no progress lines");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : exit_usage;
    }
    std::string bad;
    auto kinds = parse_fault_kinds(faults, bad);
    if (!kinds) {
        std::cerr << "starbus-chaos: unknown fault kind \"" << bad << "\": use kill, stop, partition, netem, disk\n";
        return exit_usage;
    }
    o.kinds = *kinds;
    o.duration = std::chrono::milliseconds(static_cast<std::int64_t>(duration_s * 1000));
    o.bus = bus == "strict" ? bus_mode::strict : bus_mode::info;
    o.min_fault = std::chrono::milliseconds(min_fault_ms);
    o.max_fault = std::chrono::milliseconds(std::max(min_fault_ms, max_fault_ms));
    o.min_gap = std::chrono::milliseconds(min_gap_ms);
    o.max_gap = std::chrono::milliseconds(std::max(min_gap_ms, max_gap_ms));
    o.settle_timeout = std::chrono::seconds(settle_s);
    if (scenario == "replica-cut") scenario = "cut";
    if (scenario == "cut") {
        // One load worker and the monitoring host, unless asked otherwise: the subject is the vote, not load.
        if (app.count("--clients") == 0) o.env.workers = 1;
        if (app.count("--subscribers") == 0) o.env.subscribers = 0;
        o.env.monitors = 1;
        o.cut_before = std::chrono::milliseconds(cut_before_ms);
        o.cut = std::chrono::milliseconds(cut_ms);
        o.cut_after = std::chrono::milliseconds(cut_after_ms);
        o.monitor_every = std::chrono::milliseconds(monitor_ms);
        o.sample_every = std::chrono::milliseconds(sample_ms);
    }
    for (int i = 0; i < argc; ++i) o.reproduce += (i ? " " : "") + shell_quote(argv[i]);

    if (dry_run && scenario == "cut") {
        const auto b = o.cut_before.count(), e = b + o.cut.count();
        std::string backups;
        for (std::size_t i = 1; i < o.env.brokers; ++i)
            backups += std::string(backups.empty() ? "" : " ") + static_cast<char>('A' + i);
        std::cout << "+" << b << " ms .. +" << e << " ms  partition A | " << backups
                  << " (brokers only; clients and the monitoring host reach every broker)\n";
        return 0;
    }
    if (dry_run) {
        std::vector<std::string> names;
        for (std::size_t i = 0; i < o.env.brokers; ++i) names.push_back(std::string(1, static_cast<char>('A' + i)));
        for (std::size_t i = 0; i < o.env.workers; ++i) names.push_back("c" + std::to_string(i + 1));
        for (std::size_t i = 0; i < o.env.subscribers; ++i) names.push_back("s" + std::to_string(i + 1));
        for (const auto& f : make_schedule(schedule_for(o)))
            std::cout << "+" << f.start.count() << " ms .. +" << f.end.count() << " ms  " << describe(f, names) << "\n";
        return 0;
    }

    if (const auto why = cannot_run_here(); !why.empty()) {
        std::cout << "SKIPPED: " << why << "\n";
        return exit_skipped;
    }
    o.env.bin_dir =
        bin_dir.empty() ? std::filesystem::canonical("/proc/self/exe").parent_path() : std::filesystem::path(bin_dir);
    o.env.run_dir = run_dir.empty()
                        ? std::filesystem::temp_directory_path() / "starbus-chaos" /
                              (scenario + "-seed-" + std::to_string(o.env.seed) + "-" + std::to_string(::getpid()))
                        : std::filesystem::path(run_dir);
    // A run reads every history in its directory: one left by an earlier run would be checked again as
    // if this run had made it. An earlier run's directory (it holds a report) is emptied; anything else
    // that is not empty is refused.
    {
        std::error_code ec;
        const auto& dir = o.env.run_dir;
        if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
            if (!std::filesystem::exists(dir / "report.txt", ec) && !std::filesystem::exists(dir / "timeline.txt", ec)) {
                std::cerr << "starbus-chaos: " << dir << " is not empty and holds no earlier run: choose an empty "
                          << "--run-dir\n";
                return exit_harness;
            }
            for (const auto& e : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(e.path(), ec);
        }
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        for (const auto& line : sweep_leftovers()) std::cerr << "starbus-chaos: " << line << "\n";
        const int rc = scenario == "cycles" ? run_failover_cycles(o, stop_requested)
                       : scenario == "cut"  ? run_replica_cut(o, stop_requested)
                                            : run_random_faults(o, stop_requested);
        return rc == 0 ? 0 : exit_violations;
    } catch (const interrupted& e) {
        std::cerr << "starbus-chaos: " << e.what() << " (done)\n";
        return exit_interrupted;
    } catch (const std::exception& e) {
        std::cerr << "starbus-chaos: harness error: " << e.what() << "\n";
        return exit_harness;
    }
}
