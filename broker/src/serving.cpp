// File: serving.cpp
// The serving broker: applies writes in order, streams them to replicas,
// and acknowledges each one only when the ack rule holds (in its own log and
// held by the replicas the cluster's `ack` setting requires). Bus publishes
// are forwarded at once and acknowledged locally.
#include "alone_rule.hpp"
#include "broker_impl.hpp"

#include <starbus/common/request_changes.hpp>

#include <spdlog/spdlog.h>

namespace starbus {

bool broker::impl::begin_write(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
                               change_class cls, steady_time now, const char* what) {
    if (_state != broker_state::active) {
        reply_not_serving(identity, request_id, now);
        return false;
    }
    // Before the class: a configuration change applied by the primary just before it died, retried on a
    // backup, is acknowledged (it is in the state), not refused.
    if (answer_retry(identity, client_id, request_id)) return false;
    // Before the alone rule: a refusal for good beats "retry later".
    if (cls == change_class::config && _me.rank != 0) {
        const std::string primary = _options.cluster.primary().name;
        reply_error(identity, request_id, error_code::config_refused,
                    std::string(what) + " need the primary " + primary + ", which is down (" + _me.name +
                        " serves and accepts operational changes only): retry once " + primary + " is back");
        return false;
    }
    if (refuses_alone(_options.cluster, _sessions.synced_count(_peers, now))) {
        // Nothing acknowledged may rest on this broker alone (cluster file: when_alone = "refuse").
        reply_error(identity, request_id, error_code::retry_later,
                    "broker " + _me.name + " serves alone (no live synchronised replica) and the cluster refuses "
                    "writes then (when_alone = \"refuse\"): retry once a replica is back");
        return false;
    }
    return true;
}

bool broker::impl::answer_retry(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id) {
    // A retry of a request already applied (here or by a previous server) is answered, not applied again.
    auto done = _replica.state().find_request(client_id, request_id);
    if (!done) return false;
    if (done->seq <= _commit_seq) ack_now(identity, request_id, {done->epoch, done->seq});
    else _pending.emplace(done->seq, pending_reply{identity, request_id, done->epoch});
    return true;
}

void broker::impl::ack_now(const std::string& identity, std::uint64_t request_id, position at) {
    _immediate_acks[identity].emplace_back(request_id, at);
}

bool broker::impl::commit_change(change c, const std::string& identity, std::uint64_t request_id) {
    c.epoch = _replica.epoch();
    c.seq = _replica.last().seq + 1;
    // The replicas' own rule (check_change), applied before anything is logged: a change they would refuse
    // must never reach the log, where it would stop every replica at it.
    if (auto v = check_change(c); !v.ok()) {
        ++_bad_messages;
        spdlog::warn("refused to log a {} change of {:?} from client {:x}: {}", to_string(c.op), c.key.substr(0, 64),
                     c.client_id, v.why);
        if (!identity.empty()) reply_error(identity, request_id, v.code, v.why);
        return false;
    }
    const bool applied = _replica.apply(c);
    assert(applied);  // seq was computed from last(): it always follows
    (void)applied;
    _uncommitted.push_back(c);
    _batch_changes.push_back(std::move(c));
    if (!identity.empty())
        _pending.emplace(_replica.last().seq, pending_reply{identity, request_id, _replica.last().epoch});
    return true;
}

void broker::impl::apply_own_orphans() {
    std::size_t applied = 0, skipped = 0;
    for (auto& c : _reconciler.take_for_server(_me.rank == 0)) {
        // Once each: the server this broker follows may have applied it already (it was replayed, or its
        // client retried it there).
        if (_replica.state().find_request(c.client_id, c.request_id)) {
            ++skipped;
            continue;
        }
        if (c.op == change_op::file_put)
            if (auto e = file_entry_of(c); !e || !_files.has(e->hash)) {
                spdlog::error("reconcile: cannot apply the orphaned change of {}: its content is not held here",
                              c.key);
                continue;
            }
        const std::uint64_t request = c.request_id;
        if (commit_change(std::move(c), {}, request)) ++applied;
    }
    if (applied + skipped > 0)
        spdlog::warn("reconcile: applied {} changes of a parted history of mine ({} were here already)", applied,
                     skipped);
}

void broker::impl::handle_set(const std::string& identity, const set_request& r, steady_time now) {
    if (!begin_write(identity, r.client_id, r.request_id, r.cls, now, "configuration changes")) return;
    static_cast<void>(commit_change(change_for(r), identity, r.request_id));
}

void broker::impl::handle_publish(const std::string& identity, const publish_request& r, steady_time now) {
    if (_options.cluster.bus.retain_messages == 0) {
        // No bus log: forwarded at once and acknowledged locally (best effort, as ZeroMQ PUB/SUB).
        if (_state != broker_state::active) return reply_not_serving(identity, r.request_id, now);
        std::string topic_frame;
        topic_frame.reserve(bus_prefix.size() + r.topic.size());
        topic_frame.append(bus_prefix).append(r.topic);
        _publisher.send(zmq::buffer(topic_frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        _publisher.send(zmq::buffer(r.payload), zmq::send_flags::dontwait);
        ack_now(identity, r.request_id, {});
        return;
    }
    // A bus message is a change like any other: logged, replicated, acknowledged per the ack mode, retried
    // without duplicates, and retained for subscribers that resume (docs/protocol.md "The bus").
    if (!begin_write(identity, r.client_id, r.request_id, change_class::operational, now, "bus messages")) return;
    const auto time_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    static_cast<void>(commit_change(change_for(r, time_ms), identity, r.request_id));
}

void broker::impl::handle_hello(const std::string& identity, const repl_hello& r, steady_time now) {
    const broker_info* peer = _options.cluster.find(r.name);
    if (!peer || peer->rank != r.rank || peer->name == _me.name) {
        spdlog::warn("replication: refused repl_hello from \"{}\" (rank {}): not a peer in this cluster", r.name,
                     r.rank);
        reply_error(identity, r.session, error_code::refused,
                    "\"" + r.name + "\" is not another broker of this cluster: check the cluster file");
        return;
    }
    if (_state != broker_state::active) return reply_not_serving(identity, r.session, now);
    if (const replica_session* live = _sessions.by_name(r.name, &_peers);
        live && live->identity != identity && replica_sessions::confirmed(*live, _peers))
        spdlog::warn("replication: a second session as {} (rank {}) opened beside the one {}'s heartbeats confirm; "
                     "it counts for nothing until they name it. If {} did not restart its link, something else is "
                     "posing as it",
                     r.name, r.rank, r.name, r.name);
    replica_session& s = _sessions.open(identity, r.name, r.rank, r.session, now, &_peers);
    send_snapshot(identity, r.session, {r.epoch, r.seq}, &r.epochs);
    s.sent = _replica.last().seq;
    s.acked = 0;
    s.streaming = true;
    s.sync_seq = _replica.last().seq;
    spdlog::info("replication: {} joined from ({}, {}); it now holds up to seq {}", r.name, r.epoch, r.seq, s.sent);
}

void broker::impl::handle_repl_ack(const std::string& identity, const repl_ack& r) {
    if (replica_session* s = _sessions.by_identity(identity)) {
        switch (_sessions.acknowledge(*s, r.seq)) {
            case ack_outcome::recorded: break;
            case ack_outcome::synchronised:
                spdlog::info("replication: {} holds everything up to seq {}, files included: it is synchronised",
                             s->name, s->sync_seq);
                break;
            case ack_outcome::beyond_sent:
                ++_bad_messages;
                spdlog::warn("replication: the session as {} acknowledged seq {} but was sent up to {} only: ignored "
                             "(a broker never does this; check what connects as {})",
                             s->name, r.seq, s->sent, s->name);
                reply_error(identity, 0, error_code::bad_request,
                            "REPL-ACK of seq " + std::to_string(r.seq) + " beyond the last seq sent on this session (" +
                                std::to_string(s->sent) + ")");
                break;
        }
        return;
    }
    // Its session ended (a long silence, or this broker restarted): make it say hello again.
    reply_error(identity, 0, error_code::refused, "no replication session: resync");
}

void broker::impl::handle_handover_request(const std::string& identity, const handover_request& r, steady_time now) {
    replica_session* s = _sessions.by_identity(identity);
    if (!s) {
        // Its session was dropped (it looked silent): tell it, so that it says hello again.
        reply_error(identity, 0, error_code::refused, "no replication session for " + r.name + ": resync first");
        return;
    }
    if (!s->synced || s->rank >= _me.rank || !replica_sessions::confirmed(*s, _peers)) {
        // Not an error for the asker's replication stream: it simply is not its turn.
        spdlog::warn("handover request from {} ignored: only a synchronised replica of lower rank than {} may ask",
                     r.name, _me.name);
        return;
    }
    if (_state != broker_state::active) return;  // already handing over, or not serving: nothing to do
    _successor = s->name;
    fire(fsm_event::handover_requested, now);
}

void broker::impl::send_handover_go() {
    replica_session* s = _sessions.by_name(_successor, &_peers);
    if (!s) return;
    reply(s->identity, handover_go{_replica.epoch(), _replica.last().seq});
    spdlog::info("handover: told {} to serve from ({}, {})", _successor, _replica.epoch(), _replica.last().seq);
}

void broker::impl::replicate_batch() {
    if (_batch_changes.empty()) return;
    for (auto& s : _sessions.all()) {
        if (!s.streaming) continue;
        for_each_chunk(_batch_changes, chunk_bytes, [&](std::vector<change> piece) {
            reply(s.identity, change_batch{std::move(piece), _commit_seq, 0});  // the live stream: no request
        });
        s.sent = _replica.last().seq;
    }
    _batch_changes.clear();
}

void broker::impl::advance_commit(steady_time now) {
    // when_alone = "refuse": with no live synchronised replica, nothing more is acknowledged (it would rest on
    // this broker's log alone); writes already applied wait for a replica to hold them.
    if (refuses_alone(_options.cluster, _sessions.synced_count(_peers, now))) return;
    const std::uint64_t commit =
        _sessions.committable(_replica.flushed_seq(), _options.cluster.ack, _peers, now);
    if (commit <= _commit_seq) return;
    _commit_seq = commit;
    // Clients that mirror the state see only what is acknowledged; with no such client, nothing is encoded.
    // Bus messages go to subscribers (their fetches, raw PUB subscribers); a mirror gets only their place in
    // the sequence (it keeps no bus messages, but must see every seq to notice a gap).
    std::vector<change> committed, published;
    const bool mirrored = !_state_subscriptions.empty();
    bool new_messages = false;
    while (!_uncommitted.empty() && _uncommitted.front().seq <= commit) {
        change& c = _uncommitted.front();
        if (c.op == change_op::publish) {
            new_messages = true;
            if (_bus_subscriptions > 0) published.push_back(c);
            if (mirrored) {
                // Its place only: no copy of the topic and payload (a mirror ignores bus messages).
                change placeholder;
                placeholder.epoch = c.epoch;
                placeholder.seq = c.seq;
                placeholder.op = change_op::publish;
                placeholder.key = std::string(1, '-');
                committed.push_back(std::move(placeholder));
            }
        } else if (mirrored) {
            committed.push_back(std::move(c));
        }
        _uncommitted.pop_front();
    }
    publish_committed(published);
    if (new_messages && !_parked.empty()) wake_bus_fetches(now, false);
    for_each_chunk(committed, chunk_bytes, [&](std::vector<change> piece) {
        _publisher.send(zmq::buffer(state_prefix), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        _publisher.send(encode_frame(change_batch{std::move(piece), commit, 0}), zmq::send_flags::dontwait);
    });
    // One ack_reply per client for everything of theirs that is now committed.
    std::map<std::string, ack_reply> acks;
    auto end = _pending.upper_bound(commit);
    for (auto it = _pending.begin(); it != end; ++it) {
        ack_reply& a = acks[it->second.identity];
        a.request_ids.push_back(it->second.request_id);
        // The position of the last change acknowledged here: its own epoch (an inherited tail, or a retry of a
        // change another server applied, is not of this server's epoch).
        if (it->first >= a.seq) {
            a.seq = it->first;
            a.epoch = it->second.epoch;
        }
    }
    _pending.erase(_pending.begin(), end);
    for (const auto& [identity, a] : acks) reply(identity, a);
}

void broker::impl::flush_immediate_acks() {
    // One ACK per identity and position: publishes (position 0, 0) together, each retried change with its own.
    for (auto& [identity, acks] : _immediate_acks) {
        std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::uint64_t>> by_position;
        for (const auto& [id, at] : acks) by_position[{at.epoch, at.seq}].push_back(id);
        for (auto& [at, ids] : by_position) reply(identity, ack_reply{std::move(ids), at.first, at.second});
    }
    _immediate_acks.clear();
}

void broker::impl::become_server(steady_time now) {
    const std::uint64_t epoch = next_epoch(std::max(_replica.epoch(), _peers.max_epoch()), _me.rank);
    _replica.set_epoch(epoch);
    // What the previous server had not acknowledged is acknowledged by us only
    // under our own ack rule, once our replicas hold it.
    const std::uint64_t inherited_commit =
        _follower.server_commit() > 0 ? std::min(_follower.server_commit(), _replica.last().seq) : _replica.last().seq;
    _sessions.clear();
    _pending.clear();
    _uncommitted.clear();
    _batch_changes.clear();
    _commit_seq = inherited_commit;
    for (auto& c : _replica.history().tail_after(inherited_commit)) _uncommitted.push_back(std::move(c));
    _successor.clear();
    _go_sent = false;
    spdlog::info("serving at epoch {} from position ({}, {}); committed up to seq {}", epoch, _replica.last().epoch,
                 _replica.last().seq, _commit_seq);
    apply_own_orphans();
    (void)now;
}

}  // namespace starbus
