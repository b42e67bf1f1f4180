// File: worker_load.cpp
// The load mode of starbus-chaos-worker (see worker.hpp): a stream of
// operations, each with a key and value of its own so that the checker can
// tell every write apart, recorded before and after.
#include <algorithm>

#include <starbus/client/client.hpp>

#include "broker_log.hpp"
#include "rng.hpp"
#include "worker.hpp"

namespace starbus::chaos {

namespace {

// Jepsen's outcome of a finished request.
outcome outcome_of(const result& r) {
    switch (r.status) {
        case result_status::ok: return outcome::ok;
        case result_status::refused:
        case result_status::invalid:
        case result_status::not_found:
        case result_status::not_authorised: return outcome::fail;
        case result_status::unreachable: return outcome::info;
    }
    return outcome::info;
}

}  // namespace

int run_load(const load_options& o, const std::atomic<bool>& stop) {
    history_writer out(o.history_path);
    client_options opts;
    opts.cluster = load_cluster_file(o.cluster_file);
    client c(std::move(opts));
    record_events(c, out, o.name);

    rng draw(o.seed);
    const int total = std::max(1, o.weight_op + o.weight_config + o.weight_publish);
    const auto pace = o.rate > 0 ? std::chrono::duration<double>(1.0 / o.rate) : std::chrono::duration<double>(0);
    auto next_at = std::chrono::steady_clock::now();
    std::uint64_t pub_seq = 0;
    const std::string topic = "chaos.bus." + o.name;
    for (std::uint64_t i = 1; !stop.load(); ++i) {
        op_record op;
        op.process = o.name;
        op.index = i;
        const auto w = draw.between(0, total - 1);
        op.kind = w < o.weight_op                     ? op_kind::set_op
                  : w < o.weight_op + o.weight_config ? op_kind::set_config
                                                      : op_kind::publish;
        const std::string id = o.name + "." + std::to_string(i);
        switch (op.kind) {
            case op_kind::set_op:
                op.key = "chaos.op." + id;
                op.value = o.tag + ":" + id;
                break;
            case op_kind::set_config:
                op.key = "chaos.cfg." + id;
                op.value = o.tag + ":" + id;
                break;
            case op_kind::publish:
                op.pub_seq = ++pub_seq;
                op.key = topic;
                op.value = o.tag + ":" + o.name + ":" + std::to_string(op.pub_seq);
                break;
        }
        op.invoke_ms = wall_ms();
        out.write(invoke_line(op));
        const result r = op.kind == op_kind::publish
                             ? c.publish(op.key, op.value, o.op_timeout)
                             : c.set(op.key, op.value,
                                     op.kind == op_kind::set_config ? change_class::config : change_class::operational,
                                     o.op_timeout);
        op.complete_ms = wall_ms();
        op.result = outcome_of(r);
        op.message = r.ok() ? std::string() : std::string(to_string(r.status)) + ": " + r.message;
        op.server = r.server;
        op.epoch = r.position.epoch;
        op.seq = r.position.seq;
        out.write(complete_line(op));

        // Pacing, not synchronisation: the rate of the load.
        next_at += std::chrono::duration_cast<std::chrono::steady_clock::duration>(pace);
        const auto now = std::chrono::steady_clock::now();
        if (next_at < now) next_at = now;  // no burst to catch up after a slow stretch
        while (!stop.load() && std::chrono::steady_clock::now() < next_at)
            c.poll(std::chrono::duration_cast<std::chrono::milliseconds>(next_at - std::chrono::steady_clock::now()) +
                   std::chrono::milliseconds(1));
    }
    return 0;
}

}  // namespace starbus::chaos
