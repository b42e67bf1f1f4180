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

#include "example_support.hpp"

namespace {

void log(const std::string& line) { starbus_example::log_line("subscriber", line); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus example: prints the bus messages of a topic prefix"};
    std::string cluster_file;
    std::string topic;
    std::uint64_t count = 0;
    app.add_option("--cluster", cluster_file, "cluster file (default: $STARBUS_CLUSTER; a CURVE cluster also needs $STARBUS_KEY, this program's NAME.key)");
    app.add_option("--topic", topic, "topic prefix to receive (default: everything)");
    app.add_option("--count", count, "stop after this many messages (0: run until SIGTERM)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto opts = starbus_example::load_options(cluster_file, "subscriber");
    if (!opts) return 2;
    starbus_example::install_signal_handlers();
    starbus::client c(std::move(*opts));
    c.on_event([](const starbus::client_event& e) { log(starbus::describe(e)); });
    c.subscribe(topic);
    // Until the subscription is in place, what is published is not ours to receive.
    while (!starbus_example::stop && !c.wait_subscribed(std::chrono::seconds(5)))
        log("not subscribed yet (last trouble: " + c.last_trouble() + "), still trying");
    log("subscribed to \"" + topic + "\": every message published from now on arrives");

    std::uint64_t received = 0;
    while (!starbus_example::stop && (count == 0 || received < count)) {
        // Waiting here also keeps the client following the server. Messages come in batches, moved, not copied.
        const std::size_t room = count == 0 ? 1000 : static_cast<std::size_t>(count - received);
        for (const auto& m : c.next_messages(room, std::chrono::milliseconds(200))) {
            ++received;
            log(m.topic + " " + m.payload);
        }
    }
    if (c.dropped_messages() > 0) log(std::to_string(c.dropped_messages()) + " messages dropped (not read in time)");
    log("stopped after " + std::to_string(received) + " messages");
    return 0;
}
