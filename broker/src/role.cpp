// File: role.cpp
// The role logic: sensing (what the peer view and local facts mean: an FSM
// event or nothing), the FSM's transitions (fsm.cpp's table) and their
// actions on the components, the vote, and asking for the role back.
#include "broker_impl.hpp"

#include <spdlog/spdlog.h>

namespace starbus {

void broker::impl::sense(steady_time now) {
    const heartbeat* server = _peers.best_server(now);
    const auto outranks_me = [&](const heartbeat& hb) {
        return hb.epoch > _replica.epoch() || (hb.epoch == _replica.epoch() && hb.rank < _me.rank);
    };
    switch (_state) {
        case broker_state::starting:
            if (server) fire(fsm_event::server_seen, now);
            else if (now - _started >= _options.cluster.expiry) fire(fsm_event::startup_expired, now);
            break;
        case broker_state::stalled:
            if (server) {
                // A server whose stream this replica refused is not followed again in the same epoch (until
                // the retry time): following it would meet the same change and loop.
                if (!still_refused(*server, now)) {
                    _refused.reset();
                    fire(fsm_event::server_seen, now);
                }
            } else if (_peers.cold_start_choice(_replica.last(), now)) fire(fsm_event::cold_start_elected, now);
            break;
        case broker_state::syncing:
        case broker_state::passive:
            // A different server, or the same one serving again under a new epoch (it restarted): resync.
            if (server && (server->name != _follower.server_name() || server->epoch != _followed_epoch)) {
                fire(fsm_event::server_seen, now);
            } else if (!_peers.alive(_follower.server_name(), now)) {
                if (!_server_lost_reported) {
                    _server_lost_reported = true;
                    fire(fsm_event::server_lost, now);
                }
            } else {
                _server_lost_reported = false;
                // A replica adopts its server's epoch, so it never raises an epoch that was already used.
                if (server && server->epoch > _replica.epoch()) _replica.set_epoch(server->epoch);
                // A stream that silently stopped (its session ended on the server, or libzmq reconnected
                // under a new identity) shows as a server ahead of me while I make no progress.
                // (Only once streaming: a large snapshot makes no visible progress until its end.)
                // Progress counts changes received and file bytes received: a replica fetching a large file
                // applies nothing for a while, and that is not a stopped stream.
                if (_state != broker_state::passive || _follower.progress() != _progress_seq) {
                    _progress_seq = _follower.progress();
                    _progress_at = now;
                } else if (server && server->seq > _replica.last().seq &&
                           now - _progress_at > 2 * _options.cluster.expiry) {
                    spdlog::warn("replication: {} is at seq {} but this replica has been stuck at {}; resyncing",
                                 server->name, server->seq, _replica.last().seq);
                    _progress_at = now;
                    fire(fsm_event::sync_broken, now);
                }
            }
            break;
        case broker_state::active:
            if (server && outranks_me(*server)) fire(fsm_event::server_seen, now);
            break;
        case broker_state::handover: {
            const replica_session* s = _replication.session_of(_successor);
            if (server && server->name == _successor) fire(fsm_event::successor_active, now);
            else if (server && outranks_me(*server)) fire(fsm_event::server_seen, now);
            else if (!_peers.alive(_successor, now) || !s || now - _handover_started > 10 * _options.cluster.expiry)
                // Before HANDOVER-GO the successor cannot serve: take writes again. After it, it may serve
                // already (its heartbeats may be what is lost): never resume alone (chaos finding F7).
                fire(_go_sent ? fsm_event::server_lost : fsm_event::handover_timeout, now);
            else if (!_go_sent && s->acked >= _replica.last().seq && _replica.flushed_seq() == _replica.last().seq)
                fire(fsm_event::successor_caught_up, now);
            break;
        }
    }
}

void broker::impl::fire(fsm_event e, steady_time now) {
    const fsm_step step = transition(_state, e);
    if (!step.handled) {
        spdlog::debug("fsm: {} ignored in state {}", to_string(e), to_string(_state));
        return;
    }
    const broker_state before = _state;
    _state = step.next;
    spdlog::info("fsm: {} --{}--> {} [{}]: {}", to_string(before), to_string(e), to_string(step.next),
                 describe_actions(step.actions), step.why);
    carry_out(step.actions, now);
    if (before != _state) send_heartbeat(now);
}

void broker::impl::carry_out(std::uint32_t actions, steady_time now) {
    if (actions & fsm_action::stop_sync) {
        _follower.stop();
        _reconciler.follow(nullptr, false);
    }
    if (actions & fsm_action::raise_epoch) become_server(now);
    if (actions & fsm_action::start_sync) {
        const heartbeat* server = _peers.best_server(now);
        const broker_info* target = server ? &_peers.info(server->rank) : _options.cluster.find(_follower.server_name());
        if (!target) {
            // Nobody to follow after all (the server vanished in the meantime).
            spdlog::info("fsm: no server to replicate from; stalled");
            _follower.stop();
            _state = broker_state::stalled;
        } else {
            _file_service.stop_serving();
            _bus.release();
            _replication.clear();
            _writes.stop_serving();
            _server_lost_reported = false;
            _followed_epoch = server ? server->epoch : 0;
            _follower.start(*target, now, _options.cluster.heartbeat / 2);
            _reconciler.follow(target, target->rank == 0);
        }
    }
    if (actions & fsm_action::stop_writes) {
        _handover_started = now;
        _go_sent = false;
        spdlog::info("handover: {} takes the role back; writes answer retry_later until it serves", _successor);
    }
    if (actions & fsm_action::resume_writes) {
        spdlog::warn("handover to {} did not complete; serving again", _successor);
        _successor.clear();
        _go_sent = false;
    }
    const broker_info* followed = _options.cluster.find(_follower.server_name());
    if ((actions & fsm_action::request_handover) && followed && _me.rank < followed->rank) {
        if (zmq::socket_t* s = _follower.socket()) {
            s->send(encode_frame(handover_request{_me.name, _me.rank, _replica.last().seq}), zmq::send_flags::dontwait);
            spdlog::info("handover: asked {} for the role (I hold seq {})", _follower.server_name(),
                         _replica.last().seq);
        }
    }
    if (actions & fsm_action::send_handover_go) {
        _go_sent = true;
        _next_handover_request = now + _options.cluster.heartbeat;
        _replication.send_handover_go(_successor);
    }
}

void broker::impl::refuse_stream(const std::string& why, steady_time now) {
    const std::string server = _follower.server_name();
    const auto retry_in = std::max(std::chrono::milliseconds(60000), 20 * _options.cluster.expiry);
    const std::string incident = server + "@" + std::to_string(_followed_epoch) + ": " + why;
    // Once per incident: a retry that meets the same change again says nothing new.
    if (incident != _last_refusal_logged) {
        spdlog::error("replication: {} sent what this replica cannot apply ({}); stopped following it: this broker "
                      "is not synchronised and may not take over until {} serves in a new epoch, another broker "
                      "serves, or {} s have passed (then it tries again). Check both brokers' versions and logs; "
                      "a corrupted data directory of {} is moved aside and resynchronised from a healthy broker",
                      server, why, server, std::chrono::duration_cast<std::chrono::seconds>(retry_in).count(), server);
        _last_refusal_logged = incident;
    }
    _refused = refused_stream{server, _followed_epoch, why, now + retry_in};
    fire(fsm_event::change_refused, now);
}

bool broker::impl::still_refused(const heartbeat& server, steady_time now) const {
    return _refused && server.name == _refused->server && server.epoch == _refused->epoch && now < _refused->retry_at;
}

void broker::impl::consider_vote(steady_time now) {
    // Binary Star's vote: a client that reaches this broker while its server
    // is silent is the evidence that this broker should serve.
    if (_state == broker_state::passive && !_peers.alive(_follower.server_name(), now) && _peers.may_take_over(now))
        fire(fsm_event::vote, now);
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

void broker::impl::ask_for_role(steady_time now) {
    // A synchronised broker that outranks the server asks for its role back, every heartbeat until it has it,
    // once nothing is left pending (no change waiting for file content, nothing being fetched).
    if (_state == broker_state::passive && _follower.synced() && _follower.nothing_pending() &&
        now >= _next_handover_request) {
        const broker_info* server = _options.cluster.find(_follower.server_name());
        if (server && _me.rank < server->rank && _peers.alive(server->rank, now)) {
            carry_out(fsm_action::request_handover, now);
            _next_handover_request = now + _options.cluster.heartbeat;
        }
    }
    if (_state == broker_state::handover && _go_sent && now >= _next_handover_request) {
        _replication.send_handover_go(_successor);
        _next_handover_request = now + _options.cluster.heartbeat;
    }
}

}  // namespace starbus
