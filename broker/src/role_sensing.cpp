// File: role_sensing.cpp
// One sensor per state, each a pure reading of the peer view and the facts.
// The order of the checks inside a sensor is the order of precedence: a
// better server first (evidence beats timing), then silence, then progress.
#include "role_sensing.hpp"

#include "candidate_order.hpp"

namespace starbus {
namespace {

// A broker that announces serving and beats my own claim (epoch, rank).
bool beats_me(const heartbeat& server, const role_facts& f) {
    return beats(claim_of(server), serving_claim{f.my_epoch, f.my_rank});
}

// The refused server, in the refused epoch, before the retry time.
bool still_refused(const heartbeat& server, const role_facts& f, steady_time now) {
    return f.refused && server.name == f.refused->server && server.epoch == f.refused->epoch &&
           now < f.refused->retry_at;
}

sensing_verdict sense_starting(const heartbeat* server, const role_facts& f, steady_time now) {
    sensing_verdict v;
    if (server) v.event = fsm_event::server_seen;
    else if (f.timing_trusted && now - f.started >= f.expiry) v.event = fsm_event::startup_expired;
    return v;
}

sensing_verdict sense_stalled(const peer_view& peers, const heartbeat* server, const role_facts& f, steady_time now) {
    sensing_verdict v;
    if (server) {
        // A server whose stream this replica refused is not followed again in the same epoch (until the
        // retry time): following it would meet the same change and loop.
        if (!still_refused(*server, f, now)) {
            v.clear_refusal = true;
            v.event = fsm_event::server_seen;
        }
    } else if (f.timing_trusted && peers.cold_start_choice(f.last, now)) {
        v.event = fsm_event::cold_start_elected;
    }
    return v;
}

// The followed server is heard: adopt its epoch, watch the stream's progress.
sensing_verdict sense_heard_server(const heartbeat* server, const role_facts& f, steady_time now) {
    sensing_verdict v;
    v.server_lost_reported = false;
    // A replica adopts its server's epoch, so it never raises an epoch that was already used.
    if (server && server->epoch > f.my_epoch) v.adopt_epoch = server->epoch;
    // A stream that silently stopped (its session ended on the server, or libzmq reconnected under a new
    // identity) shows as a server ahead of me while I make no progress. (Only once streaming: a large
    // snapshot makes no visible progress until its end.) Progress counts changes and file bytes received:
    // a replica fetching a large file applies nothing for a while, and that is not a stopped stream.
    if (f.state != broker_state::passive || f.progress != f.progress_seen) {
        v.progress = progress_mark{f.progress, now};
    } else if (f.timing_trusted && server && server->seq > f.last.seq && now - f.progress_since > 2 * f.expiry) {
        v.warning = "replication: " + server->name + " is at seq " + std::to_string(server->seq) +
                    " but this replica has been stuck at " + std::to_string(f.last.seq) + "; resyncing";
        v.progress = progress_mark{f.progress_seen, now};
        v.event = fsm_event::sync_broken;
    }
    return v;
}

sensing_verdict sense_follower(const peer_view& peers, const heartbeat* server, const role_facts& f, steady_time now) {
    sensing_verdict v;
    // A different server, or the same one serving again under a new epoch (it restarted): resync.
    if (server && (server->name != f.followed || server->epoch != f.followed_epoch)) {
        v.event = fsm_event::server_seen;
    } else if (!peers.alive(std::string(f.followed), now)) {
        // Once per silence; and not on stale timing (the silence may be this broker's own freeze).
        if (!f.server_lost_reported && f.timing_trusted) {
            v.server_lost_reported = true;
            v.event = fsm_event::server_lost;
        }
    } else {
        v = sense_heard_server(server, f, now);
    }
    return v;
}

sensing_verdict sense_handover(const peer_view& peers, const heartbeat* server, const role_facts& f, steady_time now) {
    sensing_verdict v;
    const std::string successor(f.successor);
    if (server && server->name == successor) {
        v.event = fsm_event::successor_active;
    } else if (server && beats_me(*server, f)) {
        v.event = fsm_event::server_seen;
    } else if (!peers.alive(successor, now) || !f.successor_acked || now - f.handover_started > 10 * f.expiry) {
        // Before HANDOVER-GO the successor cannot serve: take writes again. After it, it may serve already
        // (its heartbeats may be what is lost): never resume alone (chaos finding F7).
        if (f.timing_trusted) v.event = f.go_sent ? fsm_event::successor_lost : fsm_event::handover_timeout;
    } else if (!f.go_sent && *f.successor_acked >= f.last.seq && f.flushed_seq == f.last.seq) {
        v.event = fsm_event::successor_caught_up;
    }
    return v;
}

}  // namespace

sensing_verdict sense(const peer_view& peers, const role_facts& facts, steady_time now) {
    const heartbeat* server = peers.best_server(now);
    switch (facts.state) {
        case broker_state::starting: return sense_starting(server, facts, now);
        case broker_state::stalled: return sense_stalled(peers, server, facts, now);
        case broker_state::syncing:
        case broker_state::passive: return sense_follower(peers, server, facts, now);
        case broker_state::active: {
            sensing_verdict v;
            if (server && beats_me(*server, facts)) v.event = fsm_event::server_seen;
            return v;
        }
        case broker_state::handover: return sense_handover(peers, server, facts, now);
    }
    return {};
}

bool handover_due(const peer_view& peers, const role_facts& facts, steady_time now) {
    return facts.state == broker_state::passive && facts.synced_and_idle && now >= facts.next_handover_message &&
           facts.followed_rank && facts.my_rank < *facts.followed_rank && peers.alive(*facts.followed_rank, now);
}

bool handover_go_unanswered(const role_facts& facts, steady_time now) {
    return facts.state == broker_state::handover && facts.go_sent && now >= facts.next_handover_message;
}

}  // namespace starbus
