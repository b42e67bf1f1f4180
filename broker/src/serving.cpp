// File: serving.cpp
// The serving role's glue between its components: becoming the server (a new
// epoch; what the predecessor had not acknowledged waits for this broker's ack
// rule), moving the commit point (replication_server says how far, write_path
// answers the clients, bus_service tells subscribers), and the writes that are
// a change built from a request (SET, PUBLISH).
#include "broker_impl.hpp"

#include <starbus/wire/request_changes.hpp>

#include <spdlog/spdlog.h>

namespace starbus {

void broker::impl::become_server(steady_time) {
    ++_serving_starts;
    const std::uint64_t epoch = next_epoch(std::max(_replica.epoch(), _peers.max_epoch()), _me.rank);
    _replica.set_epoch(epoch);
    // What the previous server had not acknowledged is acknowledged by us only
    // under our own ack rule, once our replicas hold it.
    const std::uint64_t inherited_commit =
        _follower.server_commit() > 0 ? std::min(_follower.server_commit(), _replica.last().seq) : _replica.last().seq;
    _replication.clear();
    _writes.start_serving(inherited_commit);
    _successor.clear();
    _go_sent = false;
    spdlog::info("serving at epoch {} from position ({}, {}); committed up to seq {}", epoch, _replica.last().epoch,
                 _replica.last().seq, _writes.commit_seq());
    apply_own_orphans();
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
        if (_writes.commit(std::move(c), {}, request)) ++applied;
    }
    if (applied + skipped > 0)
        spdlog::warn("reconcile: applied {} changes of a parted history of mine ({} were here already)", applied,
                     skipped);
}

void broker::impl::advance_commit(steady_time now) {
    // when_alone = "refuse": with no live synchronised replica, nothing more is acknowledged (it would rest on
    // this broker's log alone); writes already applied wait for a replica to hold them.
    if (_writes.refuses_alone(_replication.synced_count(now))) return;
    const std::uint64_t commit = _replication.committable(_replica.flushed_seq(), now);
    if (commit <= _writes.commit_seq()) return;
    // Subscribers and mirrors first, then the writers' ACKs.
    _bus.on_committed(_writes.take_committed(commit), commit, now);
    _writes.answer_committed();
}

void broker::impl::handle_set(const std::string& identity, const set_request& r, steady_time now) {
    const write_conditions w = writes_now(now);
    if (!_writes.begin(identity, r.client_id, r.request_id, r.cls, w.active, w.synced_replicas,
                       "configuration changes"))
        return;
    static_cast<void>(_writes.commit(change_for(r), identity, r.request_id));
}

void broker::impl::handle_publish(const std::string& identity, const publish_view& r, steady_time now) {
    if (_options.cluster.bus.retain_messages == 0) {
        // No bus log: forwarded at once and acknowledged locally (best effort, as ZeroMQ PUB/SUB).
        if (_state != broker_state::active) return reply_not_serving(identity, r.request_id);
        _bus.forward(r.topic, r.payload);
        ++_bus_accepted;
        _writes.ack_now(identity, r.request_id, {});
        return;
    }
    // A bus message is a change like any other: logged, replicated, acknowledged per the ack mode, retried
    // without duplicates, and retained for subscribers that resume (docs/protocol.md "The bus").
    const write_conditions w = writes_now(now);
    if (!_writes.begin(identity, r.client_id, r.request_id, change_class::operational, w.active, w.synced_replicas,
                       "bus messages"))
        return;
    const auto time_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    if (_writes.commit(change_for(r, time_ms), identity, r.request_id)) ++_bus_accepted;
}

void broker::impl::handle_handover_request(const std::string& identity, const handover_request& r, steady_time now) {
    const std::optional<std::string> successor = _replication.on_handover_request(identity, r);
    if (!successor) return;
    if (_state != broker_state::active) return;  // already handing over, or not serving: nothing to do
    _successor = *successor;
    fire(fsm_event::handover_requested, now);
}

}  // namespace starbus
