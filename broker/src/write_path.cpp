// File: write_path.cpp
#include "write_path.hpp"

#include "alone_rule.hpp"

#include <cassert>

#include <starbus/wire/codec.hpp>

#include <spdlog/spdlog.h>

namespace starbus {

write_path::write_path(local_replica& replica, broker_sink& out, const cluster_config& cluster, const broker_info& me)
    : _replica(replica), _out(out), _cluster(cluster), _me(me), _commit_seq(replica.last().seq) {}

bool write_path::refuses_alone(std::size_t synced_replicas) const {
    return starbus::refuses_alone(_cluster, synced_replicas);
}

bool write_path::begin(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
                       change_class cls, bool active, std::size_t synced_replicas, const char* what) {
    if (!active) {
        _out.reply_not_serving(identity, request_id);
        return false;
    }
    // Before the class: a configuration change applied by the primary just before it died, retried on a
    // backup, is acknowledged (it is in the state), not refused.
    if (answer_retry(identity, client_id, request_id)) return false;
    // Before the alone rule: a refusal for good beats "retry later".
    if (cls == change_class::config && _me.rank != 0) {
        const std::string primary = _cluster.primary().name;
        _out.reply_error(identity, request_id, error_code::config_refused,
                         std::string(what) + " need the primary " + primary + ", which is down (" + _me.name +
                             " serves and accepts operational changes only): retry once " + primary + " is back");
        return false;
    }
    if (refuses_alone(synced_replicas)) {
        _out.reply_error(identity, request_id, error_code::retry_later,
                         "broker " + _me.name + " serves alone (no live synchronised replica) and the cluster refuses "
                         "writes then (when_alone = \"refuse\"): retry once a replica is back");
        return false;
    }
    return true;
}

bool write_path::answer_retry(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id) {
    // A retry of a request already applied (here or by a previous server) is answered, not applied again.
    auto done = _replica.state().find_request(client_id, request_id);
    if (!done) return false;
    if (done->seq <= _commit_seq) ack_now(identity, request_id, {done->epoch, done->seq});
    else _pending_retries.emplace(done->seq, pending_reply{identity, request_id, done->epoch});
    return true;
}

void write_path::ack_now(const std::string& identity, std::uint64_t request_id, position at) {
    _immediate_acks[identity].emplace_back(request_id, at);
}

bool write_path::commit(change c, const std::string& identity, std::uint64_t request_id) {
    c.epoch = _replica.epoch();
    c.seq = _replica.last().seq + 1;
    // The replicas' own rule (check_change), applied before anything is logged: a change they would refuse
    // must never reach the log, where it would stop every replica at it.
    if (auto v = check_change(c); !v.ok()) {
        ++_refused;
        spdlog::warn("refused to log a {} change of {:?} from client {:x}: {}", to_string(c.op), c.key.substr(0, 64),
                     c.client_id, v.why);
        if (!identity.empty()) _out.reply_error(identity, request_id, v.code, v.why);
        return false;
    }
    const bool applied = _replica.apply(c);
    assert(applied);  // seq was computed from last(): it always follows
    (void)applied;
    _uncommitted.push_back(c);
    _batch.push_back(std::move(c));
    if (!identity.empty())
        _pending.emplace_back(_replica.last().seq, pending_reply{identity, request_id, _replica.last().epoch});
    return true;
}

std::vector<change> write_path::take_batch() {
    std::vector<change> out;
    out.swap(_batch);
    return out;
}

std::vector<change> write_path::take_committed(std::uint64_t commit) {
    std::vector<change> out;
    if (commit <= _commit_seq) return out;
    _commit_seq = commit;
    while (!_uncommitted.empty() && _uncommitted.front().seq <= commit) {
        out.push_back(std::move(_uncommitted.front()));
        _uncommitted.pop_front();
    }
    return out;
}

void write_path::answer_committed() {
    std::map<std::string, ack_reply> acks;
    const auto add = [&](std::uint64_t seq, const pending_reply& p) {
        ack_reply& a = acks[p.identity];
        a.request_ids.push_back(p.request_id);
        // The position of the last change acknowledged here: its own epoch (an inherited tail, or a retry of a
        // change another server applied, is not of this server's epoch).
        if (seq >= a.seq) {
            a.seq = seq;
            a.epoch = p.epoch;
        }
    };
    // Retries first: their changes precede the newer writes of the same batch (seq order per client).
    auto end = _pending_retries.upper_bound(_commit_seq);
    for (auto it = _pending_retries.begin(); it != end; ++it) add(it->first, it->second);
    _pending_retries.erase(_pending_retries.begin(), end);
    while (!_pending.empty() && _pending.front().first <= _commit_seq) {
        add(_pending.front().first, _pending.front().second);
        _pending.pop_front();
    }
    for (const auto& [identity, a] : acks) _out.reply(identity, a);
}

void write_path::flush_immediate_acks() {
    // One ACK per identity and position: publishes (position 0, 0) together, each retried change with its own.
    for (auto& [identity, acks] : _immediate_acks) {
        std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::uint64_t>> by_position;
        for (const auto& [id, at] : acks) by_position[{at.epoch, at.seq}].push_back(id);
        for (auto& [at, ids] : by_position) _out.reply(identity, ack_reply{std::move(ids), at.first, at.second});
    }
    _immediate_acks.clear();
}

void write_path::start_serving(std::uint64_t inherited_commit) {
    stop_serving();
    _commit_seq = inherited_commit;
    for (auto& c : _replica.history().tail_after(inherited_commit)) _uncommitted.push_back(std::move(c));
}

void write_path::stop_serving() {
    _pending.clear();
    _pending_retries.clear();
    _uncommitted.clear();
    _batch.clear();
}

}  // namespace starbus
