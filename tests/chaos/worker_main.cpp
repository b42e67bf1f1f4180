// File: worker_main.cpp
// starbus-chaos-worker's command line (see worker.hpp for the modes).
//   starbus-chaos-worker load --cluster F --name c1 --history H [--seed N] [--rate R] [--tag T] ...
//   starbus-chaos-worker subscribe --cluster F --name s1 --history H [--prefix P]
//   starbus-chaos-worker dump --cluster F --from NAME [--timeout-ms T]
//   starbus-chaos-worker probe --cluster F --key K --value V [--config] [--timeout-ms T]
//   starbus-chaos-worker watch --cluster F --name ctl --samples S [--every-ms N] [--timeout-ms T]
// SIGTERM or SIGINT ends load, subscribe and watch after the operation in flight.
#include <atomic>
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "worker.hpp"

namespace {

// The only process-wide state: what the signal handler may touch.
std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested.store(true); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-chaos-worker: a client process of the starbus chaos harness"};
    app.require_subcommand(1);
    std::string cluster_file;
    int timeout_ms = 5000;

    starbus::chaos::load_options load;
    int op_timeout_ms = 2000;
    auto* cmd_load = app.add_subcommand("load", "make changes and publishes, recording each");
    cmd_load->add_option("--cluster", cluster_file, "cluster file")->required();
    cmd_load->add_option("--name", load.name, "this process's name in the history")->required();
    cmd_load->add_option("--history", load.history_path, "history file (JSON lines, appended)")->required();
    cmd_load->add_option("--seed", load.seed, "seed of the operation mix");
    cmd_load->add_option("--rate", load.rate, "operations per second (0: unpaced)");
    cmd_load->add_option("--tag", load.tag, "the run's tag, part of every value");
    cmd_load->add_option("--op-timeout-ms", op_timeout_ms, "deadline of each operation");
    cmd_load->add_option("--weight-op", load.weight_op, "relative weight of operational changes");
    cmd_load->add_option("--weight-config", load.weight_config, "relative weight of configuration changes");
    cmd_load->add_option("--weight-publish", load.weight_publish, "relative weight of publishes");

    starbus::chaos::subscribe_options sub;
    auto* cmd_sub = app.add_subcommand("subscribe", "record every bus message received");
    cmd_sub->add_option("--cluster", cluster_file, "cluster file")->required();
    cmd_sub->add_option("--name", sub.name, "this process's name in the history")->required();
    cmd_sub->add_option("--history", sub.history_path, "history file (JSON lines, appended)")->required();
    cmd_sub->add_option("--prefix", sub.prefix, "topic prefix");

    std::string from;
    auto* cmd_dump = app.add_subcommand("dump", "print a broker's replica as JSON, with epochs");
    cmd_dump->add_option("--cluster", cluster_file, "cluster file")->required();
    cmd_dump->add_option("--from", from, "broker name")->required();
    cmd_dump->add_option("--timeout-ms", timeout_ms, "deadline");

    std::string key, value;
    bool config = false;
    auto* cmd_probe = app.add_subcommand("probe", "one change; prints who acknowledged it");
    cmd_probe->add_option("--cluster", cluster_file, "cluster file")->required();
    cmd_probe->add_option("--key", key, "key")->required();
    cmd_probe->add_option("--value", value, "value")->required();
    cmd_probe->add_flag("--config", config, "a configuration change");
    cmd_probe->add_option("--timeout-ms", timeout_ms, "deadline");

    starbus::chaos::watch_options watch;
    int every_ms = 100;
    auto* cmd_watch = app.add_subcommand("watch", "every broker's status every N ms, one JSON line per sample");
    cmd_watch->add_option("--cluster", cluster_file, "cluster file")->required();
    cmd_watch->add_option("--name", watch.name, "this process's name in the samples")->required();
    cmd_watch->add_option("--samples", watch.path, "samples file (JSON lines, appended)")->required();
    cmd_watch->add_option("--every-ms", every_ms, "sampling period")->check(CLI::Range(10, 60000));
    cmd_watch->add_option("--timeout-ms", timeout_ms, "how long a sample waits for the brokers' answers");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        if (*cmd_load) {
            load.cluster_file = cluster_file;
            load.op_timeout = std::chrono::milliseconds(op_timeout_ms);
            return starbus::chaos::run_load(load, stop_requested);
        }
        if (*cmd_sub) {
            sub.cluster_file = cluster_file;
            return starbus::chaos::run_subscribe(sub, stop_requested);
        }
        if (*cmd_watch) {
            watch.cluster_file = cluster_file;
            watch.every = std::chrono::milliseconds(every_ms);
            watch.timeout = std::chrono::milliseconds(*cmd_watch->get_option("--timeout-ms") ? timeout_ms : 500);
            return starbus::chaos::run_watch(watch, stop_requested);
        }
        if (*cmd_dump) return starbus::chaos::run_dump(cluster_file, from, std::chrono::milliseconds(timeout_ms));
        return starbus::chaos::run_probe(cluster_file, key, value, config, std::chrono::milliseconds(timeout_ms));
    } catch (const std::exception& e) {
        std::cerr << "starbus-chaos-worker: " << e.what() << "\n";
        return 1;
    }
}
