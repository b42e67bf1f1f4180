// File: operator.cpp
// starbus example: an operator's console that makes operational changes to
// the replicated state periodically (opening and closing valves) and prints
// each acknowledgement and every change of the serving broker. It also keeps
// a mirror of the whole state (client_options::mirror_state) and reports
// how many keys it holds.
//
//   starbus-example-operator --cluster cluster.toml [--valves 4] [--interval-ms 1000] [--count N] [--no-mirror]
//
// Stops after N changes (--count), or on SIGINT/SIGTERM, with exit status 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>

#include <starbus/client/client.hpp>

#include "example_support.hpp"

namespace {

void log(const std::string& line) { starbus_example::log_line("operator", line); }

std::string position_text(const starbus::position& p) {
    return std::to_string(p.epoch) + ":" + std::to_string(p.seq);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: opens and closes valves (operational changes)"};
    std::string cluster_file;
    int valves = 4;
    int interval_ms = 1000;
    std::uint64_t count = 0;
    bool no_mirror = false;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER; a CURVE cluster also needs $STARBUS_KEY, this program's NAME.key)");
    app.add_option("--valves", valves, "how many valves (keys valve.1 ... valve.N)")->check(CLI::Range(1, 1000));
    app.add_option("--interval-ms", interval_ms, "time between changes")->check(CLI::Range(1, 3600000));
    app.add_option("--count", count, "stop after this many changes (0: run until SIGTERM)");
    app.add_flag("--no-mirror", no_mirror, "do not keep a local mirror of the state");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto opts = starbus_example::load_options(cluster_file, "operator");
    if (!opts) return 2;
    opts->mirror_state = !no_mirror;
    starbus_example::install_signal_handlers();
    starbus::client c(std::move(*opts));
    c.on_event([](const starbus::client_event& e) { log(starbus::describe(e)); });

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(1, valves);
    const auto interval = std::chrono::milliseconds(interval_ms);
    const auto change_timeout = std::max(interval, std::chrono::milliseconds(3000));

    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t n = 0; !starbus_example::stop && (count == 0 || n < count); ++n) {
        const std::string key = "valve." + std::to_string(pick(rng));
        // Toggle what the mirror (or, without one, the server) says the valve is.
        std::string current;
        if (!no_mirror) {
            if (const starbus::change* ch = c.mirror().find(key)) current = ch->value;
        } else if (auto g = c.get(key, change_timeout); g.ok()) {
            current = g.value;
        }
        const std::string value = current == "open" ? "closed" : "open";
        const starbus::result r = c.set(key, value, starbus::change_class::operational, change_timeout);
        if (r.ok()) {
            std::string line = "ack " + key + " = " + value + " at " + position_text(r.position) + " by " + r.server;
            if (!no_mirror)
                line += "; mirror holds " + std::to_string(c.mirror().entries().size()) + " keys at " +
                        position_text(c.mirror().last());
            log(line);
        } else {
            log("change " + key + " = " + value + " failed: " + std::string(starbus::to_string(r.status)) + ": " +
                r.message);
        }
        next += interval;
        while (!starbus_example::stop && std::chrono::steady_clock::now() < next)
            c.poll(std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now()));
        if (std::chrono::steady_clock::now() > next + interval) next = std::chrono::steady_clock::now();
    }
    log("stopped");
    return 0;
}
