// File: follower.cpp
#include "follower.hpp"

#include <random>

#include <spdlog/spdlog.h>

#include <starbus/common/codec.hpp>

namespace starbus {

follower::follower(zmq::context_t& ctx, std::string my_name, std::uint32_t my_rank)
    : _ctx(ctx), _my_name(std::move(my_name)), _my_rank(my_rank) {}

void follower::open_socket() {
    _socket = std::make_unique<zmq::socket_t>(_ctx, zmq::socket_type::dealer);
    _socket->set(zmq::sockopt::linger, 0);
    _socket->set(zmq::sockopt::maxmsgsize, limits::max_frame_bytes);
    _socket->set(zmq::sockopt::rcvhwm, 0);  // the server bounds what it sends; never drop a change here
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
    _server_commit = 0;
    _server_seq = 0;
}

void follower::stop() {
    _socket.reset();
    _snapshot.clear();
    _phase = phase::idle;
}

void follower::tick(const local_replica& replica, steady_time now, std::chrono::milliseconds retry) {
    if (_phase == phase::awaiting && now - _hello_sent >= retry) {
        spdlog::info("replication: {} did not answer repl_hello within {} ms; retrying", _server.name, retry.count());
        _phase = phase::hello_due;
    }
    if (_phase != phase::hello_due || now < _hello_due) return;
    open_socket();  // a fresh socket per session: nothing stale can arrive on it
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    _session = rng();
    repl_hello hello{_my_name, _my_rank, replica.last().epoch, replica.last().seq, _session};
    _socket->send(encode_frame(hello), zmq::send_flags::dontwait);
    _hello_sent = now;
    _phase = phase::awaiting;
    spdlog::info("replication: asked {} for changes after ({}, {})", _server.name, hello.epoch, hello.seq);
}

follower::outcome follower::apply_batch(const change_batch& b, local_replica& replica) {
    _server_commit = std::max(_server_commit, b.commit_seq);
    for (const auto& c : b.changes) {
        if (c.seq <= replica.last().seq) continue;  // already held (a resent tail)
        if (!replica.apply(c)) {
            spdlog::warn("replication: gap from {}: expected seq {}, got {}; resyncing", _server.name,
                         replica.last().seq + 1, c.seq);
            return outcome::sync_broken;
        }
        _applied = true;
    }
    if (!b.changes.empty()) _server_seq = std::max(_server_seq, b.changes.back().seq);
    return outcome::nothing;
}

follower::outcome follower::handle(const message& m, local_replica& replica, steady_time) {
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
        return apply_batch(*batch, replica);
    }
    if (const auto* end = std::get_if<snapshot_end>(&m)) {
        if (end->request_id != _session) return outcome::nothing;
        if (!end->is_delta) {
            replica.install(std::move(_snapshot), {end->epoch, end->seq}, end->requests);
            _snapshot.clear();
            _applied = true;
        } else if (replica.last().seq != end->seq) {
            spdlog::warn("replication: delta from {} ended at {} but this replica is at {}; resyncing",
                         _server.name, end->seq, replica.last().seq);
            return outcome::sync_broken;
        }
        _server_seq = std::max(_server_seq, end->seq);
        _phase = phase::streaming;
        _applied = true;  // acknowledge at once: the server waits for this replica from now on
        spdlog::info("replication: synchronised with {} at ({}, {}) by {}", _server.name, end->epoch, end->seq,
                     end->is_delta ? "delta" : "full snapshot");
        return outcome::sync_complete;
    }
    if (const auto* go = std::get_if<handover_go>(&m)) {
        if (_phase != phase::streaming || replica.last().seq != go->seq) {
            spdlog::warn("replication: handover_go at seq {} ignored: this replica is at seq {}", go->seq,
                         replica.last().seq);
            return outcome::nothing;
        }
        _handover_at = {go->epoch, go->seq};
        return outcome::handover_go;
    }
    if (const auto* err = std::get_if<error_reply>(&m)) {
        spdlog::info("replication: {} refused: {} ({})", _server.name, err->text, to_string(err->code_value));
        return outcome::sync_broken;
    }
    spdlog::warn("replication: unexpected {} from {}; ignored", to_string(std::visit([](const auto& x) {
                     return std::decay_t<decltype(x)>::code;
                 }, m)),
                 _server.name);
    return outcome::nothing;
}

void follower::end_of_batch(local_replica& replica) {
    if (!_applied || !_socket) return;
    replica.flush();
    _applied = false;
    if (replica.last().seq == _acked) return;
    _acked = replica.last().seq;
    _socket->send(encode_frame(repl_ack{_acked}), zmq::send_flags::dontwait);
}

}  // namespace starbus
