// File: subscriber.cpp
// starbus example: subscribes to a topic prefix and prints every message that
// arrives, and every change of the serving broker (the subscription follows
// failovers by itself).
//
//   starbus-example-subscriber --cluster cluster.toml [--topic sensors/] [--count N]
//
// Stops after N messages (--count), or on SIGINT/SIGTERM, with exit status 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

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

void log(const std::string& line) { std::cout << now_text() << " subscriber: " << line << std::endl; }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: prints the bus messages of a topic prefix"};
    std::string cluster_file;
    std::string topic;
    std::uint64_t count = 0;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER)");
    app.add_option("--topic", topic, "topic prefix to receive (default: everything)");
    app.add_option("--count", count, "stop after this many messages (0: run until SIGTERM)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (cluster_file.empty() && std::getenv("STARBUS_CLUSTER")) cluster_file = std::getenv("STARBUS_CLUSTER");
    if (cluster_file.empty()) {
        std::cerr << "subscriber: pass --cluster FILE or set STARBUS_CLUSTER" << std::endl;
        return 2;
    }

    starbus::client_options opts;
    try {
        opts.cluster = starbus::load_cluster_file(cluster_file);
    } catch (const starbus::config_error& e) {
        std::cerr << "subscriber: " << e.what() << std::endl;
        return 2;
    }
    install_signal_handlers();
    starbus::client c(std::move(opts));
    c.on_event([](const starbus::client_event& e) { log(starbus::describe(e)); });
    c.subscribe(topic);
    log("subscribed to \"" + topic + "\"");

    std::uint64_t received = 0;
    while (!stop && (count == 0 || received < count)) {
        // Waiting here also keeps the client following the server.
        if (auto m = c.next_message(std::chrono::milliseconds(200))) {
            ++received;
            log(m->topic + " " + m->payload);
        }
    }
    if (c.dropped_messages() > 0) log(std::to_string(c.dropped_messages()) + " messages dropped (not read in time)");
    log("stopped after " + std::to_string(received) + " messages");
    return 0;
}
