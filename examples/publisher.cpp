// File: publisher.cpp
// starbus example: a sensor that publishes periodic readings on the bus,
// following failovers. Each reading goes to sensors/<name>/temperature and
// sensors/<name>/pressure; a line is logged per publish and per server change.
//
//   starbus-example-publisher --cluster cluster.toml [--topic sensors] [--name boiler] [--interval-ms 1000] [--count N]
//
// Stops after N rounds (--count), or on SIGINT/SIGTERM, with exit status 0.
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

void log(const std::string& line) { starbus_example::log_line("publisher", line); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: publishes sensor readings on the bus"};
    std::string cluster_file;
    std::string topic = "sensors";
    std::string name = "boiler";
    int interval_ms = 1000;
    std::uint64_t count = 0;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER; a CURVE cluster also needs $STARBUS_KEY, this program's NAME.key)");
    app.add_option("--topic", topic, "topic prefix: readings go to TOPIC/NAME/temperature and TOPIC/NAME/pressure");
    app.add_option("--name", name, "sensor name");
    app.add_option("--interval-ms", interval_ms, "time between readings")->check(CLI::Range(1, 3600000));
    app.add_option("--count", count, "stop after this many readings (0: run until SIGTERM)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto opts = starbus_example::load_options(cluster_file, "publisher");
    if (!opts) return 2;
    starbus_example::install_signal_handlers();
    starbus::client c(std::move(*opts));
    c.on_event([](const starbus::client_event& e) { log(starbus::describe(e)); });
    // Find the server once before the first reading (a cluster still electing one is not an error).
    while (!starbus_example::stop) {
        const starbus::result served = c.wait_serving(std::chrono::seconds(5));
        if (served.ok()) break;
        log("waiting for a broker to serve: " + served.message);
    }

    // Plausible readings: a slow random walk around 60 degrees and 1.5 bar.
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<double> step(0.0, 0.3);
    double temperature = 60.0, pressure = 1.5;
    const std::string base = topic + "/" + name + "/";
    const auto interval = std::chrono::milliseconds(interval_ms);
    // A reading not taken by the server within this time is dropped: the next one is more recent.
    const auto publish_timeout = std::max(interval, std::chrono::milliseconds(2000));

    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t round = 0; !starbus_example::stop && (count == 0 || round < count); ++round) {
        temperature += step(rng);
        pressure = std::max(0.0, pressure + step(rng) / 20);
        char t[32], p[32];
        std::snprintf(t, sizeof t, "%.1f", temperature);
        std::snprintf(p, sizeof p, "%.2f", pressure);
        for (const auto& [topic, value] : {std::pair{base + "temperature", std::string(t)},
                                           std::pair{base + "pressure", std::string(p)}}) {
            const starbus::result r = c.publish(topic, value, publish_timeout);
            if (r.ok()) log("published " + topic + " " + value + " via " + r.server);
            else log("could not publish " + topic + ": " + std::string(starbus::to_string(r.status)) + ": " + r.message);
            if (starbus_example::stop) break;
        }
        // Wait for the next reading, keeping the client serviced (liveness, failovers).
        next += interval;
        while (!starbus_example::stop && std::chrono::steady_clock::now() < next)
            c.poll(std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now()));
        if (std::chrono::steady_clock::now() > next + interval) next = std::chrono::steady_clock::now();
    }
    log("stopped");
    return 0;
}
