// File: growth_fanout.hpp
// The bus curve of starbus-bench-growth: delivered messages per second against
// the number of subscribers, for one publisher, through a starbus broker
// (best-effort and retained bus) and through the raw libzmq XSUB/XPUB proxy of
// starbus-bench-bus (serve_pubsub_proxy) in the same run, as the baseline.
// Every variant is read by the same subscribers: K raw SUB sockets in one
// thread of the benchmark, on the proxy's XPUB or the broker's publish port
// (P+1, frames ["B"+topic][payload]), so the curves differ only by what sits
// between publisher and subscribers.
#pragma once

#include <cstddef>
#include <string>

#include <starbus/client/client.hpp>

namespace starbus::bench {

struct fanout_settings {
    std::size_t messages = 100000;  // published per run (before the cap below)
    std::size_t max_deliveries = 4000000;  // messages x subscribers per run, at most: bounds the runs of 100
    std::size_t payload = 100;
    std::size_t window = 1000;  // the starbus publisher's requests in flight
    int hwm = 100000;           // every PUB/SUB/XPUB/XSUB high-water mark (the broker's PUB uses 100000)
    int max_seconds = 60;       // time limit of one run
};

struct fanout_outcome {
    std::size_t published = 0;  // measured messages the publisher sent
    std::size_t received = 0;   // measured messages received, summed over the subscribers
    double seconds = 0;         // first measured publish -> last message received
    std::string note;           // what went wrong, if anything
    [[nodiscard]] double total_rate() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0; }
};

// Messages one run of `subscribers` publishes: settings.messages, capped by max_deliveries.
[[nodiscard]] std::size_t fanout_messages(const fanout_settings& s, std::size_t subscribers);

// Raw PUB -> proxy (xsub_endpoint ... xpub_endpoint) -> `subscribers` raw SUBs.
[[nodiscard]] fanout_outcome run_raw_fanout(const fanout_settings& s, std::size_t subscribers,
                                            const std::string& xsub_endpoint, const std::string& xpub_endpoint);

// client::publish_async (window, then flush) -> the broker of `cluster` -> `subscribers` raw SUBs on its
// publish port.
[[nodiscard]] fanout_outcome run_starbus_fanout(const fanout_settings& s, std::size_t subscribers,
                                                const client_options& cluster);

}  // namespace starbus::bench
