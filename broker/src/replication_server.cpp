// File: replication_server.cpp
#include "replication_server.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "change_batches.hpp"

namespace starbus {

replication_server::replication_server(const local_replica& replica, const peer_view& peers, broker_sink& out,
                                       const cluster_config& cluster, const broker_info& me)
    : _replica(replica), _peers(peers), _out(out), _cluster(cluster), _me(me) {}

void replication_server::on_hello(const std::string& identity, const repl_hello& r, bool active,
                                  std::uint64_t commit_seq, steady_time now) {
    const broker_info* peer = _cluster.find(r.name);
    if (!peer || peer->rank != r.rank || peer->name == _me.name) {
        spdlog::warn("replication: refused repl_hello from \"{}\" (rank {}): not a peer in this cluster", r.name,
                     r.rank);
        _out.reply_error(identity, r.session, error_code::refused,
                         "\"" + r.name + "\" is not another broker of this cluster: check the cluster file");
        return;
    }
    if (!active) return _out.reply_not_serving(identity, r.session);
    if (const replica_session* live = _sessions.by_name(r.name, &_peers);
        live && live->identity != identity && replica_sessions::confirmed(*live, _peers))
        spdlog::warn("replication: a second session as {} (rank {}) opened beside the one {}'s heartbeats confirm; "
                     "it counts for nothing until they name it. If {} did not restart its link, something else is "
                     "posing as it",
                     r.name, r.rank, r.name, r.name);
    replica_session& s = _sessions.open(identity, r.name, r.rank, r.session, now, &_peers);
    send_snapshot(_replica, commit_seq, _out, identity, r.session, {r.epoch, r.seq}, &r.epochs);
    s.sent = _replica.last().seq;
    s.acked = 0;
    s.streaming = true;
    s.sync_seq = _replica.last().seq;
    spdlog::info("replication: {} joined from ({}, {}); it now holds up to seq {}", r.name, r.epoch, r.seq, s.sent);
}

void replication_server::on_ack(const std::string& identity, const repl_ack& r) {
    replica_session* s = _sessions.by_identity(identity);
    if (!s) {
        // Its session ended (a long silence, or this broker restarted): make it say hello again.
        _out.reply_error(identity, 0, error_code::refused, "no replication session: resync");
        return;
    }
    switch (_sessions.acknowledge(*s, r.seq)) {
        case ack_outcome::recorded: break;
        case ack_outcome::synchronised:
            spdlog::info("replication: {} holds everything up to seq {}, files included: it is synchronised",
                         s->name, s->sync_seq);
            break;
        case ack_outcome::beyond_sent:
            ++_bad_acks;
            spdlog::warn("replication: the session as {} acknowledged seq {} but was sent up to {} only: ignored "
                         "(a broker never does this; check what connects as {})",
                         s->name, r.seq, s->sent, s->name);
            _out.reply_error(identity, 0, error_code::bad_request,
                             "REPL-ACK of seq " + std::to_string(r.seq) + " beyond the last seq sent on this session (" +
                                 std::to_string(s->sent) + ")");
            break;
    }
}

std::optional<std::string> replication_server::on_handover_request(const std::string& identity,
                                                                   const handover_request& r) {
    replica_session* s = _sessions.by_identity(identity);
    if (!s) {
        // Its session was dropped (it looked silent): tell it, so that it says hello again.
        _out.reply_error(identity, 0, error_code::refused, "no replication session for " + r.name + ": resync first");
        return std::nullopt;
    }
    if (!s->synced || s->rank >= _me.rank || !replica_sessions::confirmed(*s, _peers)) {
        // Not an error for the asker's replication stream: it simply is not its turn.
        spdlog::warn("handover request from {} ignored: only a synchronised replica of lower rank than {} may ask",
                     r.name, _me.name);
        return std::nullopt;
    }
    return s->name;
}

void replication_server::send_handover_go(const std::string& successor) {
    replica_session* s = _sessions.by_name(successor, &_peers);
    if (!s) return;
    _out.reply(s->identity, handover_go{_replica.epoch(), _replica.last().seq});
    spdlog::info("handover: told {} to serve from ({}, {})", successor, _replica.epoch(), _replica.last().seq);
}

void replication_server::replicate(std::vector<change> batch, std::uint64_t commit_seq) {
    if (batch.empty()) return;
    auto& sessions = _sessions.all();
    const auto streaming = [](const replica_session& s) { return s.streaming; };
    const auto last = std::find_if(sessions.rbegin(), sessions.rend(), streaming);
    for (auto& s : sessions) {
        if (!s.streaming) continue;
        const auto send = [&](std::vector<change> piece) {
            _out.reply(s.identity, change_batch{std::move(piece), commit_seq, 0});  // the live stream: no request
        };
        if (&s == &*last) for_each_chunk(std::move(batch), chunk_bytes, send);
        else for_each_chunk(std::as_const(batch), chunk_bytes, send);
        s.sent = _replica.last().seq;
    }
}

std::uint64_t replication_server::committable(std::uint64_t durable_seq, steady_time now) const {
    return _sessions.committable(durable_seq, _cluster.ack, _peers, now);
}

std::size_t replication_server::synced_count(steady_time now) const { return _sessions.synced_count(_peers, now); }

const replica_session* replication_server::session_of(const std::string& name) const {
    return _sessions.by_name(name, &_peers);
}

void replication_server::tick(steady_time now) {
    _sessions.prune(_peers, now, _cluster.expiry);
    for (const auto& name : _sessions.drop_silent(_peers, now, _cluster.expiry))
        spdlog::info("replica {} is silent: acknowledgements no longer wait for it", name);
}

}  // namespace starbus
