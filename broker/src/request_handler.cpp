// File: request_handler.cpp
// Requests on the broker's request endpoint: decode defensively, answer every
// request at once (an error names who serves, so a client never waits a whole
// timeout to learn it asked the wrong broker), and count the requests of
// clients that ask for service as votes for a passive broker whose server has
// gone silent. Looking (STATUS, FILE-LIST, a SNAPSHOT for a dump, a plain PING)
// never votes: monitoring must not make a backup serve (docs/protocol.md "Votes").
#include "broker_impl.hpp"

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

// Bad input is logged, but at most this many lines per second.
constexpr int bad_input_log_lines_per_second = 10;

}  // namespace

void broker::impl::reply(const std::string& identity, const message& m) {
    zmq::message_t id(identity.data(), identity.size());
    if (!_router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return;
    _router.send(encode_frame(m), zmq::send_flags::dontwait);
}

void broker::impl::reply_error(const std::string& identity, std::uint64_t request_id, error_code code,
                               std::string text) {
    error_reply e;
    e.request_id = request_id;
    e.code_value = code;
    e.text = std::move(text);
    e.server = server_name(std::chrono::steady_clock::now());
    e.primary = _options.cluster.primary().name;
    reply(identity, e);
}

void broker::impl::reply_not_serving(const std::string& identity, std::uint64_t request_id, steady_time now) {
    if (_state == broker_state::handover) {
        reply_error(identity, request_id, error_code::retry_later,
                    "broker " + _me.name + " is handing its role over to " + _successor + ": retry in a moment");
        return;
    }
    if (takeover_imminent(now)) {
        // The server has missed heartbeats and this broker is next in line: pointing the client back at the
        // silent server would cost it a whole timeout; asking it to retry here costs a few milliseconds.
        reply_error(identity, request_id, error_code::retry_later,
                    "server " + _follower.server_name() + " is silent; broker " + _me.name +
                        " takes over if it stays silent: retry in a moment");
        return;
    }
    const std::string server = server_name(now);
    std::string text = "broker " + _me.name + " does not serve (" + std::string(to_string(_state)) + ")";
    text += server.empty() ? "; nobody serves right now: " + note(now) : "; the server is " + server;
    reply_error(identity, request_id, error_code::not_serving, std::move(text));
}

bool broker::impl::takeover_imminent(steady_time now) const {
    if (_state != broker_state::passive) return false;
    const broker_info* server = _options.cluster.find(_follower.server_name());
    if (!server || !_peers.last(server->rank) || now - _peers.heard_at(server->rank) <= _options.cluster.heartbeat)
        return false;
    for (std::uint32_t r = 0; r < _me.rank; ++r)
        if (r != server->rank && _peers.alive(r, now) && is_synchronised(_peers.last(r)->state)) return false;
    return true;
}

void broker::impl::note_client(std::uint64_t client_id, steady_time now) {
    if (client_id == 0) return;
    _clients[client_id] = now;
    // A flood of new client ids (a reconnect storm, or a misbehaving peer) must not grow this without
    // bound: forget the silent ones whenever the table doubles (amortised O(1) per request).
    if (_clients.size() >= _clients_prune_at) {
        static_cast<void>(client_count(now));
        _clients_prune_at = std::max<std::size_t>(1024, 2 * _clients.size());
    }
}

std::size_t broker::impl::client_count(steady_time now) {
    const auto horizon = std::max(std::chrono::milliseconds(3000), 3 * _options.cluster.heartbeat);
    std::erase_if(_clients, [&](const auto& kv) { return now - kv.second > horizon; });
    return _clients.size();
}

void broker::impl::consider_vote(steady_time now) {
    // Binary Star's vote: a client that reaches this broker while its server
    // is silent is the evidence that this broker should serve.
    if (_state == broker_state::passive && !_peers.alive(_follower.server_name(), now) && _peers.may_take_over(now))
        fire(fsm_event::vote, now);
}

void broker::impl::handle_request(const std::string& identity, const zmq::message_t& body, steady_time now) {
    // A chunk of an upload is read in place: its data goes straight from the frame to the file.
    if (peek_command(body.data(), body.size()) == command::file_chunk) return handle_chunk(identity, body, now);
    decode_result d = decode(body);
    if (!d.ok()) {
        ++_bad_messages;
        if (now - _bad_log_window > std::chrono::seconds(1)) {
            _bad_log_window = now;
            _bad_logged_in_window = 0;
        }
        if (++_bad_logged_in_window <= bad_input_log_lines_per_second)
            spdlog::warn("rejected a request ({} bytes): {} [{} rejected so far]", body.size(), d.reason,
                         _bad_messages);
        reply_error(identity, d.request_id, d.error, d.reason);
        return;
    }
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, set_request>) {
                note_client(m.client_id, now);
                consider_vote(now);
                handle_set(identity, m, now);
            } else if constexpr (std::is_same_v<T, publish_request>) {
                note_client(m.client_id, now);
                consider_vote(now);
                handle_publish(identity, m, now);
            } else if constexpr (std::is_same_v<T, get_request>) {
                consider_vote(now);
                handle_get(identity, m, now);
            } else if constexpr (std::is_same_v<T, snapshot_request>) {
                if (m.require_serving) consider_vote(now);  // a mirror asking for the server's state, not a dump
                if (m.require_serving && !serving()) reply_not_serving(identity, m.request_id, now);
                else if (_snapshot_entries_in_batch >= snapshot_entries_per_batch)
                    reply_error(identity, m.request_id, error_code::retry_later,
                                "broker " + _me.name + " is busy sending snapshots to other clients: retry in a moment");
                else _snapshot_entries_in_batch += send_snapshot(identity, m.request_id, {m.from_epoch, m.from_seq});
            } else if constexpr (std::is_same_v<T, status_request>) {
                handle_status(identity, m, now);
            } else if constexpr (std::is_same_v<T, ping>) {
                note_client(m.client_id, now);
                if (m.wants_service) consider_vote(now);
                reply(identity, pong{_state, _replica.epoch(), serving() ? _commit_seq : _replica.last().seq,
                                     server_name(now), m.request_id});
            } else if constexpr (std::is_same_v<T, force_request>) {
                handle_force(identity, m, now);
            } else if constexpr (std::is_same_v<T, repl_hello>) {
                handle_hello(identity, m, now);
            } else if constexpr (std::is_same_v<T, repl_ack>) {
                handle_repl_ack(identity, m);
            } else if constexpr (std::is_same_v<T, handover_request>) {
                handle_handover_request(identity, m, now);
            } else if constexpr (std::is_same_v<T, file_list_request>) {
                handle_file_list(identity, m, now);
            } else if constexpr (std::is_same_v<T, fetch_request>) {
                handle_fetch(identity, m);
            } else if constexpr (std::is_same_v<T, file_put_request>) {
                note_client(m.client_id, now);
                consider_vote(now);
                handle_file_put(identity, m, now);
            } else if constexpr (std::is_same_v<T, file_remove_request>) {
                note_client(m.client_id, now);
                consider_vote(now);
                handle_file_remove(identity, m, now);
            } else if constexpr (std::is_same_v<T, bus_fetch_request>) {
                consider_vote(now);
                handle_bus_fetch(identity, m, now);
            } else if constexpr (std::is_same_v<T, error_reply>) {
                // A client answering a FETCH of an upload it cannot serve any more (its file changed or vanished).
                if (!_uploads.on_error(m.request_id))
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

void broker::impl::handle_get(const std::string& identity, const get_request& r, steady_time now) {
    if (!serving()) return reply_not_serving(identity, r.request_id, now);
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
        s.pending = s.seq - std::min(s.seq, _commit_seq) + _uploads.active();
        s.pending_files = _uploads.active();
        s.pending_bytes = _uploads.pending_bytes();
    } else if (_follower.running()) {
        std::uint64_t server_seq = _follower.server_seq();
        if (const broker_info* b = _options.cluster.find(_follower.server_name()))
            if (const heartbeat* hb = _peers.last(b->rank)) server_seq = std::max(server_seq, hb->seq);
        // Changes not yet applied (those waiting for file content among them), plus the files still to fetch.
        s.pending_files = _follower.gate().pending_files();
        s.pending_bytes = _follower.gate().pending_bytes();
        s.pending = (server_seq > s.seq ? server_seq - s.seq : 0) + s.pending_files;
    }
    s.clients = static_cast<std::uint32_t>(client_count(now));
    s.server = server_name(now);
    s.note = note(now);
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

std::size_t broker::impl::send_snapshot(const std::string& identity, std::uint64_t request_id, position from,
                                        const std::vector<epoch_span>* epochs) {
    const position at = _replica.last();
    // A delta when the asker's position is in our recent history; else everything.
    if (from.seq > 0) {
        if (auto delta = _replica.history().after(from)) {
            for_each_chunk(*delta, chunk_bytes, [&](std::vector<change> piece) {
                // The asker matches these to its request: pipelined or abandoned SNAPSHOTs cannot mix.
                reply(identity, change_batch{std::move(piece), _commit_seq, request_id});
            });
            reply(identity, snapshot_end{.request_id = request_id, .epoch = at.epoch, .seq = at.seq, .is_delta = true});
            return delta->size();
        }
    }
    // Keys, then files; the bus log only for a replica (a client's mirror does not keep bus messages).
    const std::vector<change> entries = _replica.state().snapshot_entries(epochs != nullptr);
    for_each_chunk(entries, chunk_bytes, [&](std::vector<change> piece) {
        reply(identity, snapshot_part{request_id, std::move(piece)});
    });
    snapshot_end end{.request_id = request_id, .epoch = at.epoch, .seq = at.seq, .requests = _replica.state().requests()};
    end.bus_dropped_through = _replica.state().bus_dropped_through();
    end.epochs = _replica.state().epochs();
    if (epochs) {
        // Where the replica's history parts from ours: what it holds beyond is its own, to be replayed.
        if (auto fork = _replica.state().fork_with(*epochs)) {
            end.fork_known = true;
            end.fork_seq = std::min(*fork, from.seq);
        }
    }
    reply(identity, end);
    return entries.size();
}

}  // namespace starbus
