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

namespace {

volatile std::sig_atomic_t stop = 0;
extern "C" void on_signal(int) { stop = 1; }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

// HH:MM:SS.mmm, local time, for log lines.
std::string now_text() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

void log(const std::string& line) { std::cout << now_text() << " publisher: " << line << std::endl; }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: publishes sensor readings on the bus"};
    std::string cluster_file;
    std::string topic = "sensors";
    std::string name = "boiler";
    int interval_ms = 1000;
    std::uint64_t count = 0;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER)");
    app.add_option("--topic", topic, "topic prefix: readings go to TOPIC/NAME/temperature and TOPIC/NAME/pressure");
    app.add_option("--name", name, "sensor name");
    app.add_option("--interval-ms", interval_ms, "time between readings")->check(CLI::Range(1, 3600000));
    app.add_option("--count", count, "stop after this many readings (0: run until SIGTERM)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (cluster_file.empty() && std::getenv("STARBUS_CLUSTER")) cluster_file = std::getenv("STARBUS_CLUSTER");
    if (cluster_file.empty()) {
        std::cerr << "publisher: pass --cluster FILE or set STARBUS_CLUSTER" << std::endl;
        return 2;
    }

    starbus::client_options opts;
    try {
        opts.cluster = starbus::load_cluster_file(cluster_file);
    } catch (const starbus::config_error& e) {
        std::cerr << "publisher: " << e.what() << std::endl;
        return 2;
    }
    install_signal_handlers();
    starbus::client c(std::move(opts));
    c.on_event([](const starbus::client_event& e) { log(starbus::describe(e)); });

    // Plausible readings: a slow random walk around 60 degrees and 1.5 bar.
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<double> step(0.0, 0.3);
    double temperature = 60.0, pressure = 1.5;
    const std::string base = topic + "/" + name + "/";
    const auto interval = std::chrono::milliseconds(interval_ms);
    // A reading not taken by the server within this time is dropped: the next one is more recent.
    const auto publish_timeout = std::max(interval, std::chrono::milliseconds(2000));

    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t round = 0; !stop && (count == 0 || round < count); ++round) {
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
            if (stop) break;
        }
        // Wait for the next reading, keeping the client serviced (liveness, failovers).
        next += interval;
        while (!stop && std::chrono::steady_clock::now() < next)
            c.poll(std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now()));
        if (std::chrono::steady_clock::now() > next + interval) next = std::chrono::steady_clock::now();
    }
    log("stopped");
    return 0;
}
