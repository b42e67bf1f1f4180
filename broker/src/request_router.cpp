// File: request_router.cpp
// Requests on the broker's request endpoint: decode defensively, answer every
// request at once (an error names who serves, so a client never waits a whole
// timeout to learn it asked the wrong broker), and count the requests of
// clients that ask for service as votes for a passive broker whose server has
// gone silent. Looking (STATUS, FILE-LIST, a SNAPSHOT for a dump, a plain PING)
// never votes: monitoring must not make a backup serve (docs/protocol.md "Votes").
#include "broker_impl.hpp"

#include "change_batches.hpp"

#include <spdlog/spdlog.h>

#include <starbus/version.hpp>

namespace starbus {
namespace {

// Bad input is logged, but at most this many lines per second.
constexpr int bad_input_log_lines_per_second = 10;

// Changes applied in one reactor batch go to the replicas in pieces of this many, as the batch is read,
// rather than all at its end: a replica applies (and acknowledges) one piece while the server reads the next,
// instead of the two working in turn on a whole window of writes. Replicating early promises nothing more:
// the commit point still waits for this broker's own flush at the batch's end.
constexpr std::size_t stream_every_changes = 256;

// The broker a request claims to come from (REPL-HELLO, HANDOVER), checked against the key that sent it.
std::string_view claimed_broker(const message& m) {
    if (const auto* h = std::get_if<repl_hello>(&m)) return h->name;
    if (const auto* h = std::get_if<handover_request>(&m)) return h->name;
    return {};
}

}  // namespace

void broker::impl::handle_request(const std::string& identity, const zmq::message_t& body, steady_time now) {
    // A chunk of an upload is read in place: its data goes straight from the frame to the file.
    if (peek_command(body.data(), body.size()) == command::file_chunk) {
        ++_requests_by_command[static_cast<std::size_t>(command::file_chunk)];
        if (auto why = authorise(body, {permission::configure, "upload files"}, {}); !why.empty()) {
            const auto c = decode_chunk_view(body);
            return refuse_unauthorised(identity, c ? c->request_id : 0, why, now);
        }
        return _file_service.on_chunk(identity, body, now);
    }
    if (peek_command(body.data(), body.size()) == command::publish_many_request) {
        ++_requests_by_command[static_cast<std::size_t>(command::publish_many_request)];
        return handle_publish_many(identity, body, now);
    }
    decode_result d = decode(body);
    if (!d.ok()) return reject(identity, d, body.size(), now);
    ++_requests_by_command[static_cast<std::size_t>(std::visit([](const auto& m) { return m.code; }, *d.value))];
    if (auto why = authorise(body, needed_for(*d.value), claimed_broker(*d.value)); !why.empty())
        return refuse_unauthorised(identity, d.request_id, why, now);
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, set_request>) {
                _clients.heard(m.client_id, now);
                consider_vote(now);
                if (auto why = access_conflict(m); !why.empty())
                    return reply_error(identity, m.request_id, error_code::refused, why);
                handle_set(identity, m, now);
                if (_writes.batch_size() >= stream_every_changes)
                    _replication.replicate(_writes.take_batch(), _writes.commit_seq());
            } else if constexpr (std::is_same_v<T, set_many_request>) {
                // Each SET as if it came alone, in order (docs/protocol.md "SET-MANY"), judged on its own by
                // the access list as it is then; the vote counts once for the frame.
                consider_vote(now);
                std::uint64_t heard_client = 0;
                for (const set_request& s : m.sets) {
                    if (s.client_id != heard_client) _clients.heard(heard_client = s.client_id, now);
                    if (auto why = authorise(body, needed_for(s), {}); !why.empty()) {
                        refuse_unauthorised(identity, s.request_id, why, now);
                        continue;
                    }
                    if (auto why = access_conflict(s); !why.empty()) {
                        reply_error(identity, s.request_id, error_code::refused, why);
                        continue;
                    }
                    handle_set(identity, s, now);
                    if (_writes.batch_size() >= stream_every_changes)
                        _replication.replicate(_writes.take_batch(), _writes.commit_seq());
                }
            } else if constexpr (std::is_same_v<T, publish_request>) {
                _clients.heard(m.client_id, now);
                consider_vote(now);
                handle_publish(identity, publish_view_of(m), now);
                if (_writes.batch_size() >= stream_every_changes)
                    _replication.replicate(_writes.take_batch(), _writes.commit_seq());
            } else if constexpr (std::is_same_v<T, get_request>) {
                consider_vote(now);
                handle_get(identity, m);
            } else if constexpr (std::is_same_v<T, snapshot_request>) {
                if (m.require_serving) consider_vote(now);  // a mirror asking for the server's state, not a dump
                handle_snapshot(identity, m, now);
            } else if constexpr (std::is_same_v<T, status_request>) {
                handle_status(identity, m, now);
            } else if constexpr (std::is_same_v<T, ping>) {
                _clients.heard(m.client_id, now);
                if (m.wants_service) consider_vote(now);
                reply(identity, pong{_state, _replica.epoch(), serving() ? _writes.commit_seq() : _replica.last().seq,
                                     server_name(now), m.request_id});
            } else if constexpr (std::is_same_v<T, force_request>) {
                handle_force(identity, m, now);
            } else if constexpr (std::is_same_v<T, repl_hello>) {
                _replication.on_hello(identity, m, _state == broker_state::active, _writes.commit_seq(), now);
            } else if constexpr (std::is_same_v<T, repl_ack>) {
                _replication.on_ack(identity, m);
                if (serving()) {
                    // The writers whose changes this ACK completes hear so now, not after the rest of the batch
                    // (up to a whole window of new writes): the next window starts sooner. The rule is the same
                    // as at the batch's end (committable(): this broker's flushed log and the replicas' ACKs).
                    // Without fsync, a flush is one write() and also covers what this batch applied so far.
                    if (_options.cluster.fsync == fsync_mode::never) _replica.flush();
                    advance_commit(now);
                }
            } else if constexpr (std::is_same_v<T, handover_request>) {
                handle_handover_request(identity, m, now);
            } else if constexpr (std::is_same_v<T, file_list_request>) {
                if (!serving()) reply_not_serving(identity, m.request_id);
                else _file_service.on_list(identity, m);
            } else if constexpr (std::is_same_v<T, fetch_request>) {
                _file_service.on_fetch(identity, m);
            } else if constexpr (std::is_same_v<T, file_put_request>) {
                _clients.heard(m.client_id, now);
                consider_vote(now);
                _file_service.on_put(identity, m, writes_now(now), now);
            } else if constexpr (std::is_same_v<T, file_remove_request>) {
                _clients.heard(m.client_id, now);
                consider_vote(now);
                _file_service.on_remove(identity, m, writes_now(now));
            } else if constexpr (std::is_same_v<T, bus_fetch_request>) {
                consider_vote(now);
                handle_bus_fetch(identity, m, now);
            } else if constexpr (std::is_same_v<T, error_reply>) {
                // A client answering a FETCH of an upload it cannot serve any more (its file changed or vanished).
                if (!_file_service.on_client_error(m.request_id))
                    spdlog::warn("dropped an ERROR that answers nothing this broker asked: {}", m.text);
            } else {
                ++_bad_messages;
                spdlog::warn("rejected {}: it is not a request", to_string(T::code));
                reply_error(identity, d.request_id, error_code::unknown_command,
                            std::string(to_string(T::code)) + " is not a request a broker accepts");
            }
        },
        *d.value);
}

void broker::impl::handle_publish_many(const std::string& identity, const zmq::message_t& body, steady_time now) {
    std::uint64_t first_id = 0;
    if (auto v = decode_publish_many_view(body, _publishes, first_id); !v.ok()) {
        decode_result d;
        d.error = v.code;
        d.reason = v.why;
        d.request_id = first_id;
        return reject(identity, d, body.size(), now);
    }
    if (auto why = authorise(body, {permission::operate, "publish"}, {}); !why.empty())
        return refuse_unauthorised(identity, first_id, why, now);
    // Each publish as if it came alone, in order (docs/protocol.md "PUBLISH-MANY"); the vote counts once.
    consider_vote(now);
    std::uint64_t heard_client = 0;
    for (const publish_view& p : _publishes) {
        if (p.client_id != heard_client) _clients.heard(heard_client = p.client_id, now);
        handle_publish(identity, p, now);
        if (_writes.batch_size() >= stream_every_changes)
            _replication.replicate(_writes.take_batch(), _writes.commit_seq());
    }
}

void broker::impl::handle_get(const std::string& identity, const get_request& r) {
    if (!serving()) return reply_not_serving(identity, r.request_id);
    value_reply v;
    v.request_id = r.request_id;
    if (const change* c = _replica.state().find(r.key)) {
        v.found = true;
        v.value = c->value;
        v.cls = c->cls;
        v.epoch = c->epoch;
        v.seq = c->seq;
    }
    reply(identity, v);
}

void broker::impl::handle_status(const std::string& identity, const status_request& r, steady_time now) {
    status_reply s;
    s.request_id = r.request_id;
    s.name = _me.name;
    s.rank = _me.rank;
    s.state = _state;
    s.epoch = _replica.epoch();
    s.seq = _replica.last().seq;
    if (serving()) {
        s.pending = s.seq - std::min(s.seq, _writes.commit_seq()) + _file_service.uploads();
        s.pending_files = _file_service.uploads();
        s.pending_bytes = _file_service.upload_bytes();
    } else if (_follower.running()) {
        std::uint64_t server_seq = _follower.server_seq();
        if (const broker_info* b = _options.cluster.find(_follower.server_name()))
            if (const heartbeat* hb = _peers.last(b->rank)) server_seq = std::max(server_seq, hb->seq);
        // Changes not yet applied (those waiting for file content among them), plus the files still to fetch.
        s.pending_files = _follower.gate().pending_files();
        s.pending_bytes = _follower.gate().pending_bytes();
        s.pending = (server_seq > s.seq ? server_seq - s.seq : 0) + s.pending_files;
    }
    s.clients = static_cast<std::uint32_t>(_clients.count(now));
    s.server = server_name(now);
    s.note = note(now);
    s.release = std::string(release_version);
    s.libzmq = libzmq_version();
    reply(identity, s);
}

void broker::impl::handle_force(const std::string& identity, const force_request& r, steady_time now) {
    if (serving()) {
        reply(identity, ack_reply{{r.request_id}, _replica.epoch(), _replica.last().seq});
        return;
    }
    if (const heartbeat* s = _peers.best_server(now)) {
        reply_error(identity, r.request_id, error_code::refused,
                    "broker " + s->name + " serves: force is only for when nobody serves");
        return;
    }
    spdlog::warn("operator forced broker {} to serve at position ({}, {})", _me.name, _replica.last().epoch,
                 _replica.last().seq);
    fire(fsm_event::force, now);
    if (serving()) reply(identity, ack_reply{{r.request_id}, _replica.epoch(), _replica.last().seq});
    else reply_error(identity, r.request_id, error_code::refused, "broker " + _me.name + " could not take over");
}

void broker::impl::handle_snapshot(const std::string& identity, const snapshot_request& r, steady_time) {
    if (r.require_serving && !serving()) return reply_not_serving(identity, r.request_id);
    if (_snapshot_entries_in_batch >= snapshot_entries_per_batch)
        return reply_error(identity, r.request_id, error_code::retry_later,
                           "broker " + _me.name + " is busy sending snapshots to other clients: retry in a moment");
    _snapshot_entries_in_batch += send_snapshot(_replica, _writes.commit_seq(), *this, identity, r.request_id,
                                                {r.from_epoch, r.from_seq});
}

void broker::impl::handle_bus_fetch(const std::string& identity, const bus_fetch_request& r, steady_time now) {
    if (!serving()) return reply_not_serving(identity, r.request_id);
    _clients.heard(r.client_id, now);
    if (_options.cluster.bus.retain_messages == 0) {
        reply_error(identity, r.request_id, error_code::refused,
                    "this cluster keeps no bus log ([bus] retain_messages = 0): subscribe on the publish port "
                    "instead, or set retain_messages in the cluster file");
        return;
    }
    _bus.on_fetch(identity, r, _writes.commit_seq(), now);
}

void broker::impl::reject(const std::string& identity, const decode_result& d, std::size_t bytes, steady_time now) {
    ++_bad_messages;
    log_bad_input("rejected a request (" + std::to_string(bytes) + " bytes): " + d.reason + " [" +
                      std::to_string(_bad_messages) + " rejected so far]",
                  now);
    reply_error(identity, d.request_id, d.error, d.reason);
}

void broker::impl::log_bad_input(const std::string& line, steady_time now) {
    if (now - _bad_log_window > std::chrono::seconds(1)) {
        _bad_log_window = now;
        _bad_logged_in_window = 0;
    }
    if (++_bad_logged_in_window <= bad_input_log_lines_per_second) spdlog::warn("{}", line);
}

}  // namespace starbus
