// File: worker_observe.cpp
// The subscribe, watch, dump and probe modes of starbus-chaos-worker (see
// worker.hpp).
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <starbus/client/client.hpp>

#include "broker_log.hpp"
#include "cut_check.hpp"
#include "worker.hpp"

namespace starbus::chaos {

int run_subscribe(const subscribe_options& o, const std::atomic<bool>& stop) {
    history_writer out(o.history_path);
    client_options opts;
    opts.cluster = load_cluster_file(o.cluster_file);
    client c(std::move(opts));
    record_events(c, out, o.name);
    c.subscribe(o.prefix);
    out.write(subscriber_line(o.name, wall_ms()));
    std::uint64_t reported_drops = 0;
    while (!stop.load()) {
        auto m = c.next_message(std::chrono::milliseconds(200));
        if (m) out.write(message_line({o.name, m->topic, m->payload, wall_ms(), m->position.epoch, m->position.seq}));
        // Messages the library dropped from its own queue are the worker's
        // fault, not the bus's: say so, so that the checker's "missed" is not
        // blamed on starbus alone.
        if (c.dropped_messages() != reported_drops) {
            reported_drops = c.dropped_messages();
            out.write(event_line({o.name, wall_ms(), "client_dropped",
                                  std::to_string(reported_drops) + " messages dropped by the client's queue"}));
        }
    }
    return 0;
}

int run_watch(const watch_options& o, const std::atomic<bool>& stop) {
    history_writer out(o.path);
    client_options opts;
    opts.cluster = load_cluster_file(o.cluster_file);
    client c(std::move(opts));
    auto next = std::chrono::steady_clock::now();
    while (!stop.load()) {
        // The same rows as `starbus status --json` (client/cli/cli_format.cpp), from the same call.
        const auto rows = c.status_all(o.timeout);
        nlohmann::json brokers = nlohmann::json::array();
        for (const auto& r : rows)
            brokers.push_back({{"name", r.name},
                               {"rank", r.rank},
                               {"role", r.role},
                               {"reachable", r.reachable},
                               {"state", r.reachable ? std::string(to_string(r.state)) : std::string("down")},
                               {"epoch", r.epoch},
                               {"seq", r.seq},
                               {"pending", r.pending},
                               {"server", r.server},
                               {"note", r.note}});
        out.write(status_sample_line(wall_ms(), o.name, brokers.dump()));
        // Fixed rate; a slow sample (a silent broker) is followed at once by the next.
        next = std::max(next + o.every, std::chrono::steady_clock::now());
        while (!stop.load() && std::chrono::steady_clock::now() < next)
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                next - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
    }
    return 0;
}

int run_dump(const std::string& cluster_file, const std::string& from, std::chrono::milliseconds timeout) {
    client_options opts;
    opts.cluster = load_cluster_file(cluster_file);
    client c(std::move(opts));
    const dump_result d = c.dump(timeout, from);
    if (!d.ok()) {
        std::cerr << "dump from " << from << ": " << to_string(d.status) << ": " << d.message << "\n";
        return d.status == result_status::invalid ? 2 : 5;
    }
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : d.entries)
        entries.push_back({{"key", e.key},
                           {"value", e.value},
                           {"class", std::string(to_string(e.cls))},
                           {"seq", e.seq},
                           {"epoch", e.epoch},
                           {"client_id", e.client_id}});
    nlohmann::json root = {{"epoch", d.position.epoch}, {"seq", d.position.seq}, {"entries", std::move(entries)}};
    std::cout << root.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
}

int run_probe(const std::string& cluster_file, const std::string& key, const std::string& value, bool config,
              std::chrono::milliseconds timeout) {
    client_options opts;
    opts.cluster = load_cluster_file(cluster_file);
    client c(std::move(opts));
    const result r = c.set(key, value, config ? change_class::config : change_class::operational, timeout);
    nlohmann::json j = {{"status", std::string(to_string(r.status))},
                        {"server", r.server},
                        {"epoch", r.position.epoch},
                        {"seq", r.position.seq},
                        {"message", r.message}};
    std::cout << j.dump() << "\n";
    return r.ok() ? 0 : (r.status == result_status::unreachable ? 5 : 3);
}

}  // namespace starbus::chaos
