// File: role_status.cpp
// What this broker says about its role: its heartbeat, the server's name as it
// sees it, and the one-line note of `starbus status` (what it waits for, and
// what the operator can do).
#include "broker_impl.hpp"

namespace starbus {

void broker::impl::send_heartbeat(steady_time now) {
    heartbeat hb;
    hb.name = _me.name;
    hb.rank = _me.rank;
    hb.state = _state;
    hb.epoch = _replica.epoch();
    hb.seq = _replica.last().seq;
    hb.last_epoch = _replica.last().epoch;
    if (_follower.running()) {
        hb.following = _follower.server_name();
        hb.repl_session = _follower.session();
    }
    _beacon.send(encode_frame(hb), zmq::send_flags::dontwait);
    _next_heartbeat = now + _options.cluster.heartbeat;
}

std::string broker::impl::server_name(steady_time now) const {
    if (serving()) return _me.name;
    const heartbeat* s = _peers.best_server(now);
    return s ? s->name : std::string{};
}

std::string broker::impl::files_note() const {
    const content_gate& g = _follower.gate();
    std::string out;
    if (g.pending_files() > 0)
        out += "; fetching " + std::to_string(g.pending_files()) + " files (" +
               std::to_string((g.pending_bytes() + (1 << 20) - 1) >> 20) + " MiB to go)";
    if (!g.trouble().empty()) out += "; " + g.trouble();
    return out;
}

std::string broker::impl::note(steady_time now) const {
    const std::string server = _follower.server_name();
    switch (_state) {
        case broker_state::starting:
            return "starting: listening " + std::to_string(_options.cluster.expiry.count()) +
                   " ms for a broker that already serves";
        case broker_state::stalled: {
            if (_refused)
                return "stopped following " + _refused->server + ": it sent what this replica cannot apply (" +
                       _refused->why + "); not synchronised until it serves in a new epoch or another broker serves";
            auto silent = _peers.silent_peers(now);
            std::string names;
            for (const auto& n : silent) names += (names.empty() ? "" : ", ") + n;
            if (!silent.empty())
                return "nobody serves and this broker cannot prove it holds every acknowledged change: waiting to "
                       "hear " + names + "; if they are gone for good, run `starbus force " + _me.name + "`";
            return "nobody serves: waiting for the broker with the newest changes to take over";
        }
        case broker_state::syncing: return "catching up with " + server + files_note();
        case broker_state::passive:
            if (_peers.alive(server, now))
                return "replica of " + server + files_note() +
                       (_reconciler.empty() ? std::string{} : "; " + _reconciler.describe());
            if (_peers.may_take_over(now)) return server + " is silent: serves on the next client request";
            return server + " is silent: a synchronised broker of lower rank takes over";
        case broker_state::active: return "";
        case broker_state::handover: return "handing the role over to " + _successor;
    }
    return "";
}

}  // namespace starbus
