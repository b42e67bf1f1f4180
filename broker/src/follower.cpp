// File: follower.cpp
#include "follower.hpp"

#include <random>

#include <spdlog/spdlog.h>

#include <starbus/security/curve_sockets.hpp>
#include <starbus/wire/codec.hpp>

namespace starbus {
namespace {

fetch_settings settings_for(const file_settings& files, bool verify_sha256) {
    fetch_settings s;
    s.chunk_bytes = files.chunk_bytes;
    s.credit_bytes = files.credit_bytes;
    s.verify_sha256 = verify_sha256;
    return s;
}

}  // namespace

follower::follower(zmq::context_t& ctx, std::string my_name, std::uint32_t my_rank, file_store& store,
                   const file_settings& files, bool verify_sha256)
    : _ctx(ctx),
      _my_name(std::move(my_name)),
      _my_rank(my_rank),
      _gate(store, settings_for(files, verify_sha256), [this] { return ++_next_fetch_id; }) {}

void follower::open_socket() {
    _socket = std::make_unique<zmq::socket_t>(_ctx, zmq::socket_type::dealer);
    _socket->set(zmq::sockopt::linger, 0);
    _socket->set(zmq::sockopt::maxmsgsize, limits::max_frame_bytes);
    _socket->set(zmq::sockopt::rcvhwm, 0);  // the server bounds what it sends; never drop a change here
    if (_own_key) make_curve_client(*_socket, *_own_key, _server.public_key);
    _socket->connect(_server.request_endpoint());
}

void follower::start(const broker_info& server, steady_time now, std::chrono::milliseconds min_gap) {
    _server = server;
    _socket.reset();
    _snapshot.clear();
    _phase = phase::hello_due;
    _hello_due = std::max(now, _hello_sent + min_gap);
    _acked = 0;
    _applied = false;
    _ack_due = false;
    _caught_up = false;
    _catch_up_seq = 0;
    _server_commit = 0;
    _server_seq = 0;
    _gate.new_session();
}

void follower::stop() {
    _socket.reset();
    _snapshot.clear();
    _phase = phase::idle;
    _caught_up = false;
    _gate.clear();
}

std::uint64_t follower::progress() const { return _received_seq + _gate.received_bytes(); }

void follower::tick(const local_replica& replica, steady_time now, std::chrono::milliseconds retry) {
    _gate_moved = true;  // fetches waiting for a retry may be due
    if (_phase == phase::awaiting && now - _hello_sent >= retry) {
        spdlog::info("replication: {} did not answer repl_hello within {} ms; retrying", _server.name, retry.count());
        _phase = phase::hello_due;
    }
    if (_phase != phase::hello_due || now < _hello_due) return;
    open_socket();  // a fresh socket per session: nothing stale can arrive on it
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    do _session = rng();
    while (_session == 0);  // 0 means "no session" in heartbeats
    repl_hello hello{_my_name, _my_rank, replica.last().epoch, replica.last().seq, _session,
                     replica.state().epochs()};
    _socket->send(encode_frame(hello), zmq::send_flags::dontwait);
    _hello_sent = now;
    _phase = phase::awaiting;
    spdlog::info("replication: asked {} for changes after ({}, {})", _server.name, hello.epoch, hello.seq);
}

follower::outcome follower::take_batch(const change_batch& b, const local_replica& replica) {
    _server_commit = std::max(_server_commit, b.commit_seq);
    for (const auto& c : b.changes) {
        if (!_gate.add(c, replica.last())) {
            spdlog::warn("replication: gap from {}: expected seq {}, got {}; resyncing", _server.name,
                         _gate.last_received(replica.last()).seq + 1, c.seq);
            return outcome::sync_broken;
        }
        _received_seq = std::max(_received_seq, c.seq);
        _gate_moved = true;
    }
    if (!b.changes.empty()) _server_seq = std::max(_server_seq, b.changes.back().seq);
    return outcome::nothing;
}

follower::outcome follower::handle(const message& m, local_replica& replica, steady_time now) {
    if (const auto* part = std::get_if<snapshot_part>(&m)) {
        if (part->request_id != _session || (_phase != phase::awaiting && _phase != phase::snapshot))
            return outcome::nothing;
        _phase = phase::snapshot;
        _snapshot.insert(_snapshot.end(), part->entries.begin(), part->entries.end());
        return outcome::nothing;
    }
    if (const auto* batch = std::get_if<change_batch>(&m)) {
        if (_phase == phase::awaiting) _phase = phase::delta;
        if (_phase != phase::delta && _phase != phase::streaming) {
            spdlog::warn("replication: changes from {} in the middle of a snapshot; resyncing", _server.name);
            return outcome::sync_broken;
        }
        return take_batch(*batch, replica);
    }
    if (const auto* end = std::get_if<snapshot_end>(&m)) {
        if (end->request_id != _session) return outcome::nothing;
        return end_snapshot(*end, replica);
    }
    if (const auto* go = std::get_if<handover_go>(&m)) {
        if (!synced() || replica.last().seq != go->seq) {
            spdlog::warn("replication: handover_go at seq {} ignored: this replica is at seq {}", go->seq,
                         replica.last().seq);
            return outcome::nothing;
        }
        _handover_at = {go->epoch, go->seq};
        return outcome::handover_go;
    }
    if (const auto* err = std::get_if<error_reply>(&m)) {
        if (_gate.on_error(err->request_id, err->code_value, err->text, now)) {
            _gate_moved = true;
            return outcome::nothing;
        }
        spdlog::info("replication: {} refused: {} ({})", _server.name, err->text, to_string(err->code_value));
        return outcome::sync_broken;
    }
    spdlog::warn("replication: unexpected {} from {}; ignored", to_string(std::visit([](const auto& x) {
                     return std::decay_t<decltype(x)>::code;
                 }, m)),
                 _server.name);
    return outcome::nothing;
}

follower::outcome follower::end_snapshot(const snapshot_end& end, local_replica& replica) {
    if (!end.is_delta) {
        // The changes after the fork are this replica's alone: the snapshot is about to replace them.
        if (end.fork_known && end.fork_seq < replica.last().seq) {
            _orphans = replica.history().tail_after(end.fork_seq);
            if (replica.history().base().seq > end.fork_seq)
                spdlog::warn("replication: the fork with {} is at seq {}, older than this replica's history "
                             "(from {}): the changes in between cannot be replayed",
                             _server.name, end.fork_seq, replica.history().base().seq);
            spdlog::warn("replication: this replica's history parted from {}'s after seq {}; it holds {} "
                         "changes beyond (up to seq {})",
                         _server.name, end.fork_seq, replica.last().seq - end.fork_seq, replica.last().seq);
        }
        std::size_t files = 0;
        for (const auto& c : _snapshot) files += c.op == change_op::file_put ? 1 : 0;
        spdlog::info("replication: full snapshot from {} at ({}, {}): {} keys, {} files", _server.name, end.epoch,
                     end.seq, _snapshot.size() - files, files);
        _gate.set_snapshot(std::move(_snapshot), {end.epoch, end.seq}, end.requests, end.bus_dropped_through,
                           end.epochs);
        _snapshot.clear();
    } else if (_gate.last_received(replica.last()).seq != end.seq) {
        spdlog::warn("replication: delta from {} ended at {} but this replica is at {}; resyncing",
                     _server.name, end.seq, _gate.last_received(replica.last()).seq);
        return outcome::sync_broken;
    }
    _server_seq = std::max(_server_seq, end.seq);
    _received_seq = std::max(_received_seq, end.seq);
    _catch_up_seq = end.seq;
    _caught_up = false;
    _phase = phase::streaming;
    _gate_moved = true;
    return outcome::nothing;
}

void follower::on_chunk(const file_chunk_view& c) {
    switch (_gate.on_chunk(c)) {
        case chunk_outcome::accepted: break;
        case chunk_outcome::unexpected: break;  // late: a request forgotten after a restart
        case chunk_outcome::corrupt:
            spdlog::warn("files: a chunk of {} at offset {} arrived damaged; asking again", std::string(c.path),
                         c.offset);
            break;
        case chunk_outcome::failed: break;  // the gate says why when it pumps
    }
    _gate_moved = true;
}

void follower::send_orders() {
    if (!_socket || _phase == phase::idle || _phase == phase::hello_due) return;
    while (auto o = _gate.next_order()) {
        if (!_socket->send(encode_frame(o->request), zmq::send_flags::dontwait)) {
            _gate.restart();  // the socket is full: ask again later, from where each file stopped
            return;
        }
    }
}

follower::outcome follower::end_of_batch(local_replica& replica, steady_time now) {
    if (!_socket) return outcome::nothing;
    if (_gate_moved) {
        _gate_moved = false;
        if (_gate.pump(replica, now)) _applied = true;
    }
    outcome o = outcome::nothing;
    if (_phase == phase::streaming && !_caught_up && !_gate.snapshot_waiting() && replica.last().seq >= _catch_up_seq) {
        _caught_up = true;
        _ack_due = true;  // from now on the server may count this replica: tell it at once
        spdlog::info("replication: synchronised with {} at ({}, {}), files included", _server.name,
                     replica.last().epoch, replica.last().seq);
        o = outcome::sync_complete;
    }
    if (_applied || _ack_due) {
        replica.flush();
        _applied = false;
        if (replica.last().seq != _acked || _ack_due) {
            _acked = replica.last().seq;
            _socket->send(encode_frame(repl_ack{_acked}), zmq::send_flags::dontwait);
        }
        _ack_due = false;
    }
    send_orders();
    return o;
}

}  // namespace starbus
