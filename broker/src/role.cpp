// File: role.cpp
// The role logic: sensing (what the peer view and local facts mean: an FSM
// event or nothing), the FSM's transitions (fsm.cpp's table) and their
// actions on the components, the vote, and asking for the role back.
#include "broker_impl.hpp"

#include <spdlog/spdlog.h>

namespace starbus {

role_facts broker::impl::role_facts_now() const {
    role_facts f;
    f.state = _state;
    f.my_rank = _me.rank;
    f.my_epoch = _replica.epoch();
    f.last = _replica.last();
    f.flushed_seq = _replica.flushed_seq();
    f.started = _started;
    f.expiry = _options.cluster.expiry;
    f.timing_trusted = _tick_guard.trusts_timing();
    f.followed = _follower.server_name();
    if (const broker_info* b = _options.cluster.find(_follower.server_name())) f.followed_rank = b->rank;
    f.followed_epoch = _followed_epoch;
    f.server_lost_reported = _server_lost_reported;
    f.synced_and_idle = _follower.synced() && _follower.nothing_pending();
    f.progress = _follower.progress();
    f.progress_seen = _progress_seq;
    f.progress_since = _progress_at;
    if (_refused) f.refused = refusal_hold{_refused->server, _refused->epoch, _refused->retry_at};
    f.successor = _successor;
    if (const replica_session* s = _replication.session_of(_successor)) f.successor_acked = s->acked;
    f.handover_started = _handover_started;
    f.go_sent = _go_sent;
    f.next_handover_message = _next_handover_request;
    return f;
}

void broker::impl::sense(steady_time now) {
    const sensing_verdict v = starbus::sense(_peers, role_facts_now(), now);
    if (v.clear_refusal) _refused.reset();
    if (v.server_lost_reported) _server_lost_reported = *v.server_lost_reported;
    if (v.adopt_epoch) _replica.set_epoch(*v.adopt_epoch);
    if (v.progress) {
        _progress_seq = v.progress->seen;
        _progress_at = v.progress->since;
    }
    if (!v.warning.empty()) spdlog::warn("{}", v.warning);
    if (v.event) fire(*v.event, now);
}

void broker::impl::watch_for_freeze(steady_time now) {
    const tick_guard::turn t = _tick_guard.observe(now, _peers);
    if (t.what == tick_guard::change::entered) {
        _peers.shift_heard_times(t.gap);
        _progress_at += t.gap;  // nor is a replication stream that could not be read meanwhile stuck
        spdlog::warn(
            "tilt: this broker did not run for {} ms (frozen or starved; more than {} ms between turns): "
            "no role decision on timing until its peers are heard again or {} ms have passed (if this repeats "
            "with nobody stopping the process, the host is overloaded for this expiry: raise heartbeat_ms)",
            std::chrono::duration_cast<std::chrono::milliseconds>(t.gap).count(),
            _tick_guard.freeze_threshold().count(), _options.cluster.expiry.count());
    } else if (t.what == tick_guard::change::left) {
        std::string unheard;
        for (auto r : t.unheard) unheard += (unheard.empty() ? "" : ", ") + _peers.info(r).name;
        spdlog::info("tilt: over after {} ms: {}",
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - _tick_guard.woke_at()).count(),
                     t.all_heard ? std::string("every peer heard before the freeze was heard again")
                                 : "one expiry passed" + (unheard.empty() ? std::string{} : "; not heard: " + unheard));
    }
}

void broker::impl::fire(fsm_event e, steady_time now) {
    // Sensing holds its own timing-based events back while tilted; this also holds back the vote, which
    // comes from the request path (the server's silence it rests on may be this broker's own freeze).
    if (!_tick_guard.trusts_timing() && rests_on_timing(e)) {
        spdlog::debug("tilt: {} not acted on in state {}: timing is not trusted since the freeze", to_string(e),
                      to_string(_state));
        return;
    }
    const broker_state before = _state;
    // An action may raise an event of its own (start_sync with nobody to follow): it goes through the table
    // too, and the heartbeat announces only where the broker ends up.
    for (std::optional<fsm_event> next = e; next;) {
        const fsm_step step = transition(_state, *next);
        if (!step.handled) {
            spdlog::debug("fsm: {} ignored in state {}", to_string(*next), to_string(_state));
            break;
        }
        const broker_state from = _state;
        _state = step.next;
        note_transition(from, *next, step.next, step.why);
        spdlog::info("fsm: {} --{}--> {} [{}]: {}", to_string(from), to_string(*next), to_string(step.next),
                     describe_actions(step.actions), step.why);
        next = carry_out(step.actions, now);
    }
    if (before != _state) send_heartbeat(now);
}

std::optional<fsm_event> broker::impl::carry_out(std::uint32_t actions, steady_time now) {
    std::optional<fsm_event> raised;
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
            raised = fsm_event::nobody_to_follow;
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
    return raised;
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

void broker::impl::consider_vote(steady_time now) {
    // Binary Star's vote: a client that reaches this broker while its server
    // is silent is the evidence that this broker should serve.
    if (_state == broker_state::passive && !_peers.alive(_follower.server_name(), now) && _peers.may_take_over(now))
        fire(fsm_event::vote, now);
}

bool broker::impl::takeover_imminent(steady_time now) const {
    if (_state != broker_state::passive) return false;
    const broker_info* server = _options.cluster.find(_follower.server_name());
    if (!server || !_peers.last(server->rank)) return false;
    // Missed a heartbeat, or its connection closed (a crash): the vote that makes me serve may come any moment.
    if (!_peers.lost(server->rank) && now - _peers.heard_at(server->rank) <= _options.cluster.heartbeat) return false;
    for (std::uint32_t r = 0; r < _me.rank; ++r)
        if (r != server->rank && _peers.alive(r, now) && is_synchronised(_peers.last(r)->state)) return false;
    return true;
}

}  // namespace starbus
