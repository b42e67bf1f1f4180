// File: configurator.cpp
// starbus example: makes configuration changes periodically (a boiler's
// setpoint). Configuration changes are accepted only while the primary
// serves: when it does not, the change is refused for good (not retried by
// the library), and this program says so clearly, names the primary, and
// tries again at the next round.
//
//   starbus-example-configurator --cluster cluster.toml [--key config.boiler.setpoint] [--interval-ms 2000] [--count N]
//
// Stops after N rounds (--count), or on SIGINT/SIGTERM, with exit status 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include <CLI/CLI.hpp>

#include <starbus/client/client.hpp>

#include "example_support.hpp"

namespace {

void log(const std::string& line) { starbus_example::log_line("configurator", line); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: makes configuration changes (accepted only while the primary serves)"};
    std::string cluster_file;
    std::string key = "config.boiler.setpoint";
    int interval_ms = 2000;
    std::uint64_t count = 0;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER; a CURVE cluster also needs $STARBUS_KEY, this program's NAME.key)");
    app.add_option("--key", key, "the configuration key to change");
    app.add_option("--interval-ms", interval_ms, "time between changes")->check(CLI::Range(1, 3600000));
    app.add_option("--count", count, "stop after this many rounds (0: run until SIGTERM)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto opts = starbus_example::load_options(cluster_file, "configurator");
    if (!opts) return 2;
    starbus_example::install_signal_handlers();
    starbus::client c(std::move(*opts));
    // change_refused is reported below, with the result; the other events are logged as they come.
    c.on_event([](const starbus::client_event& e) {
        if (!std::holds_alternative<starbus::change_refused>(e)) log(starbus::describe(e));
    });

    const auto interval = std::chrono::milliseconds(interval_ms);
    const auto change_timeout = std::max(interval, std::chrono::milliseconds(3000));
    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t n = 0; !starbus_example::stop && (count == 0 || n < count); ++n) {
        // Setpoints cycle 55, 60 ... 75 degrees.
        const std::string value = std::to_string(55 + 5 * static_cast<int>(n % 5));
        const starbus::result r = c.set(key, value, starbus::change_class::config, next + change_timeout);
        switch (r.status) {
            case starbus::result_status::ok:
                log("configured " + key + " = " + value + " (acknowledged by " + r.server + " at " +
                    std::to_string(r.position.epoch) + ":" + std::to_string(r.position.seq) + ")");
                break;
            case starbus::result_status::refused:
                // Final for this change: the library does not retry it. We try the next value later.
                log("REFUSED " + key + " = " + value + " while the primary " +
                    (r.primary.empty() ? std::string("broker") : r.primary) + " does not serve: " + r.message +
                    " [next attempt in " + std::to_string(interval_ms) + " ms]");
                break;
            default:
                log("could not configure " + key + ": " + std::string(starbus::to_string(r.status)) + ": " +
                    r.message);
                break;
        }
        next += interval;
        while (!starbus_example::stop && std::chrono::steady_clock::now() < next)
            c.poll(std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now()));
        if (std::chrono::steady_clock::now() > next + interval) next = std::chrono::steady_clock::now();
    }
    log("stopped");
    return 0;
}
