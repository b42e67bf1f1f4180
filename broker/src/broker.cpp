// File: broker.cpp
// The reactor: one thread polls the request, heartbeat and replication
// sockets, drains what is ready as one batch (so that one fdatasync and one
// message per replica cover many requests), then lets the sensors turn what
// changed into FSM events. No state outside broker::impl.
#include "broker_impl.hpp"

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

// How many messages one batch may take from a socket before the reactor
// makes them durable, replicates and answers.
constexpr int batch_limit = 4096;

const broker_info& find_me(const broker_options& o) {
    const broker_info* me = o.cluster.find(o.name);
    if (!me) {
        std::string names;
        for (const auto& b : o.cluster.brokers) names += (names.empty() ? "" : ", ") + b.name;
        throw config_error("no broker named \"" + o.name + "\" in the cluster file (brokers: " + names + ")");
    }
    return *me;
}

bus_retention retention_of(const cluster_config& c) {
    return {c.bus.retain_messages, c.bus.retain_bytes, c.bus.retain_seconds * 1000};
}

void bind_or_explain(zmq::socket_t& s, const broker_info& me, std::uint16_t offset, const char* what) {
    const std::string endpoint = me.bind_endpoint(offset);
    try {
        s.bind(endpoint);
    } catch (const zmq::error_t& e) {
        throw config_error("cannot bind the " + std::string(what) + " endpoint " + endpoint + " of broker " + me.name +
                           ": " + e.what() + " (is another broker running on this port? change the endpoint of " +
                           me.name + " in the cluster file)");
    }
}

}  // namespace

broker::impl::impl(broker_options options)
    : _options(std::move(options)),
      _me(find_me(_options)),
      _router(_ctx, zmq::socket_type::router),
      _publisher(_ctx, zmq::socket_type::xpub),
      _beacon(_ctx, zmq::socket_type::pub),
      _peers_sub(_ctx, zmq::socket_type::sub),
      _replica(_options.data_dir, _options.cluster.fsync, _options.history_capacity, retention_of(_options.cluster)),
      _files(_options.data_dir),
      _installer(_options.cluster.fsync == fsync_mode::batch),
      _peers(_options.cluster, _me.rank),
      // A replica checks SHA-256 too: the store names every object by it, so an object must be what its name says.
      _follower(_ctx, _me.name, _me.rank, _files, _options.cluster.files, true),
      _uploads(_options.cluster.files, [this] { return ++_last_upload_fetch; }),
      _reconciler(_ctx, _options.data_dir, _files) {
    for (zmq::socket_t* s : {&_router, &_publisher, &_beacon, &_peers_sub}) s->set(zmq::sockopt::linger, 0);
    // Frames up to four times the limit are read and answered with TOO_LARGE; only beyond that does libzmq
    // drop the connection unanswered (the bound on what one hostile peer can make the broker buffer).
    _router.set(zmq::sockopt::maxmsgsize, 4 * limits::max_frame_bytes);
    _router.set(zmq::sockopt::sndhwm, 100000);
    _router.set(zmq::sockopt::rcvhwm, 100000);
    _publisher.set(zmq::sockopt::sndhwm, 100000);
    // What the publish and heartbeat ports receive is subscriptions: a topic prefix each. Anything longer
    // makes libzmq drop the connection, so a peer cannot make the broker store (or match against) megabytes.
    _publisher.set(zmq::sockopt::maxmsgsize, limits::max_subscription_bytes);
    _beacon.set(zmq::sockopt::maxmsgsize, limits::max_subscription_bytes);
    _peers_sub.set(zmq::sockopt::maxmsgsize, std::int64_t{64 * 1024});
    _peers_sub.set(zmq::sockopt::subscribe, "");
    // A restarted peer must be heard again within a heartbeat, not after libzmq's default 100 ms back-off.
    _peers_sub.set(zmq::sockopt::reconnect_ivl, static_cast<int>(std::clamp<long>(
                                                    _options.cluster.heartbeat.count() / 4, 5, 100)));
    bind_or_explain(_router, _me, 0, "request");
    bind_or_explain(_publisher, _me, 1, "publish");
    bind_or_explain(_beacon, _me, 2, "heartbeat");
    for (const auto& b : _options.cluster.brokers)
        if (b.name != _me.name) _peers_sub.connect(b.heartbeat_endpoint());
    _commit_seq = _replica.last().seq;
    if (const std::size_t n = _files.collect_all(_replica.state().files()); n > 0)
        spdlog::info("files: deleted {} stored versions that no file refers to any more", n);
    if (auto missing = _files.missing(_replica.state().files()); !missing.empty()) {
        spdlog::warn("files: {} of the {} files listed lack their content in {} (first: {}); a replica fetches "
                     "them from its server, a server cannot hand them out",
                     missing.size(), _replica.state().files().size(), _files.directory().string(),
                     missing.front().path);
        _follower.note_missing(missing);
    }
    spdlog::info("files: {} files, {} stored versions", _replica.state().files().size(), _files.object_count());
}

void broker::impl::run(const std::atomic<bool>& stop) {
    _started = std::chrono::steady_clock::now();
    _next_heartbeat = _started;
    spdlog::info("broker {} (rank {}) listening on {} (+1 publish, +2 heartbeat); heartbeat {} ms, expiry {} ms",
                 _me.name, _me.rank, _me.endpoint, _options.cluster.heartbeat.count(),
                 _options.cluster.expiry.count());
    // Sensors are evaluated at least this often, so expiries are noticed promptly.
    const auto tick_every = std::max(std::chrono::milliseconds(5), _options.cluster.heartbeat / 4);
    auto next_tick = _started;
    while (!stop.load()) {
        std::vector<zmq::pollitem_t> items = {{_router.handle(), 0, ZMQ_POLLIN, 0},
                                              {_peers_sub.handle(), 0, ZMQ_POLLIN, 0},
                                              {_publisher.handle(), 0, ZMQ_POLLIN, 0},
                                              {nullptr, _installer.notify_fd(), ZMQ_POLLIN, 0}};
        if (zmq::socket_t* f = _follower.socket()) items.push_back({f->handle(), 0, ZMQ_POLLIN, 0});
        const std::size_t reconciler_at = items.size();
        if (zmq::socket_t* r = _reconciler.socket()) items.push_back({r->handle(), 0, ZMQ_POLLIN, 0});
        auto now = std::chrono::steady_clock::now();
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now);
        wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(100));
        try {
            zmq::poll(items, wait);
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;  // a signal: re-check `stop`
            throw;
        }
        now = std::chrono::steady_clock::now();
        watch_for_freeze(now);  // before anything of this turn is recorded
        if (items[1].revents & ZMQ_POLLIN) {
            drain_heartbeats(now);
            // Before any request of this batch: a broker that wakes up (SIGSTOP, a long pause) must learn
            // that another serves at a higher epoch before it applies anything.
            sense(now);
        }
        if (items[2].revents & ZMQ_POLLIN) drain_subscriptions();
        if (items[3].revents & ZMQ_POLLIN) drain_installer(now);
        if (_follower.socket() && items.size() > 4 && (items[4].revents & ZMQ_POLLIN)) drain_follower(now);
        if (items.size() > reconciler_at && (items[reconciler_at].revents & ZMQ_POLLIN)) _reconciler.drain(now);
        if (items[0].revents & ZMQ_POLLIN) drain_requests(now);
        end_of_batch(now);
        if (now >= next_tick) {
            tick(now);
            next_tick = now + tick_every;
        }
    }
    spdlog::info("broker {} stopping: flushing its replica", _me.name);
    _replica.flush();
}

void broker::impl::drain_requests(steady_time now) {
    _snapshot_entries_in_batch = 0;  // a new batch: a new budget for clients' snapshots
    for (int i = 0; i < batch_limit; ++i) {
        zmq::message_t identity;
        if (!_router.recv(identity, zmq::recv_flags::dontwait)) return;
        zmq::message_t body;
        if (!identity.more() || !_router.recv(body, zmq::recv_flags::dontwait)) continue;
        if (body.more()) {
            // Only single-frame requests exist: act on none of the frames, and say so once, with the first
            // frame's request_id when it has one, so that the sender can tell which request it lost.
            const std::uint64_t request_id = decode(body).request_id;
            std::size_t frames = 1;
            zmq::message_t extra;
            bool more = true;
            while (more && _router.recv(extra, zmq::recv_flags::dontwait)) {
                ++frames;
                more = extra.more();
            }
            ++_bad_messages;
            reply_error(identity.to_string(), request_id, error_code::bad_request,
                        "a request is exactly one frame (one envelope); this message had " + std::to_string(frames) +
                            ": send each request as a message of its own");
            continue;
        }
        handle_request(identity.to_string(), body, now);
    }
}

void broker::impl::drain_heartbeats(steady_time now) {
    for (int i = 0; i < batch_limit; ++i) {
        zmq::message_t frame;
        if (!_peers_sub.recv(frame, zmq::recv_flags::dontwait)) return;
        decode_result d = decode(frame);
        const heartbeat* hb = d.ok() ? std::get_if<heartbeat>(&*d.value) : nullptr;
        if (!hb || !_peers.record(*hb, now)) {
            ++_bad_messages;
            spdlog::warn("dropped a heartbeat that is not from a broker of this cluster ({})",
                         d.ok() ? "unknown name or rank" : d.reason);
        }
    }
}

void broker::impl::drain_subscriptions() {
    // The publish socket is an XPUB so that the broker knows whether anybody mirrors the state: without a
    // subscriber to "K" (or to everything), committed changes are not encoded for it at all. libzmq reports
    // only the first subscription to a prefix and the last unsubscription from it.
    for (int i = 0; i < batch_limit; ++i) {
        zmq::message_t frame;
        if (!_publisher.recv(frame, zmq::recv_flags::dontwait)) return;
        if (frame.size() == 0) continue;
        const auto* bytes = static_cast<const char*>(frame.data());
        const std::string_view prefix(bytes + 1, frame.size() - 1);
        // Raw subscribers of bus topics ("B..." or everything): committed bus messages are sent on PUB only then.
        if (prefix.empty() || prefix.front() == bus_prefix.front()) {
            if (bytes[0] == 1) ++_bus_subscriptions;
            else if (bytes[0] == 0 && _bus_subscriptions > 0) --_bus_subscriptions;
        }
        if (!state_prefix.starts_with(prefix)) continue;
        if (bytes[0] == 1) _state_subscriptions.insert(std::string(prefix));
        else if (bytes[0] == 0) _state_subscriptions.erase(std::string(prefix));
    }
}

void broker::impl::drain_follower(steady_time now) {
    for (int i = 0; i < batch_limit; ++i) {
        zmq::socket_t* s = _follower.socket();
        if (!s) return;
        zmq::message_t frame;
        if (!s->recv(frame, zmq::recv_flags::dontwait)) return;
        if (peek_command(frame.data(), frame.size()) == command::file_chunk) {
            std::string why;
            if (auto c = decode_chunk_view(frame, &why)) _follower.on_chunk(*c);
            else spdlog::warn("replication: dropped a malformed chunk from {}: {}", _follower.server_name(), why);
            continue;
        }
        decode_result d = decode(frame);
        if (!d.ok()) {
            // The server sends only what it logged or holds: a message this replica cannot decode (a change
            // that breaks the rules, a newer protocol) would come again after every resync.
            refuse_stream(d.reason, now);
            return;
        }
        switch (_follower.handle(*d.value, _replica, now)) {
            case follower::outcome::nothing: break;
            case follower::outcome::sync_complete: fire(fsm_event::sync_complete, now); break;
            case follower::outcome::sync_broken: fire(fsm_event::sync_broken, now); return;
            case follower::outcome::handover_go: fire(fsm_event::handover_go, now); return;
        }
    }
}

void broker::impl::end_of_batch(steady_time now) {
    if (_follower.running()) {
        const follower::outcome o = _follower.end_of_batch(_replica, now);
        move_follower_files();
        if (auto orphans = _follower.take_orphans(); !orphans.empty()) _reconciler.adopt(orphans);
        if (o == follower::outcome::sync_complete) fire(fsm_event::sync_complete, now);
    }
    if (serving()) {
        finish_uploads(now);
        replicate_batch();
        _replica.flush();
        _reconciler.flush();
        advance_commit(now);
        send_upload_orders();
    }
    collect_garbage();
    flush_immediate_acks();
}

void broker::impl::tick(steady_time now) {
    if (_follower.running()) {
        const std::uint64_t session = _follower.session();
        _follower.tick(_replica, now, std::max(_options.cluster.expiry, std::chrono::milliseconds(1000)));
        // A new REPL-HELLO: say so on the heartbeat port now, so that the server counts the session at once.
        if (_follower.session() != session) send_heartbeat(now);
    }
    _sessions.prune(_peers, now, _options.cluster.expiry);
    _reconciler.tick(now);
    for (const auto& name : _sessions.drop_silent(_peers, now, _options.cluster.expiry))
        spdlog::info("replica {} is silent: acknowledgements no longer wait for it", name);
    // An upload whose client went away (or stopped sending) is dropped with its temporary file.
    if (!_parked.empty()) wake_bus_fetches(now, false);
    for (const auto& u : _uploads.expire(now, std::max(std::chrono::milliseconds(10000), 4 * _options.cluster.expiry)))
        spdlog::info("files: dropped the upload of {} from client {:x}: no chunk for a while", u.entry.path,
                     u.client_id);
    if (serving()) advance_commit(now);
    sense(now);
    if (now >= _next_heartbeat) send_heartbeat(now);
    // A synchronised broker that outranks the server asks for its role back, every heartbeat until it has it,
    // once nothing is left pending (no change waiting for file content, nothing being fetched).
    if (handover_due(_peers, role_facts_now(), now)) {
        fire(fsm_event::handover_due, now);
        _next_handover_request = now + _options.cluster.heartbeat;
    }
    if (handover_go_unanswered(role_facts_now(), now)) fire(fsm_event::go_unanswered, now);
}

role_facts broker::impl::role_facts_now() {
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
    if (const replica_session* s = _sessions.by_name(_successor, &_peers)) f.successor_acked = s->acked;
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
            if (_uploads.active() > 0) spdlog::info("files: dropping {} uploads: not serving any more", _uploads.active());
            _uploads.clear();
            release_bus_fetches(now);
            _sessions.clear();
            _pending.clear();
            _uncommitted.clear();
            _batch_changes.clear();
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
        send_handover_go();
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

void broker::impl::send_heartbeat(steady_time now) {
    heartbeat hb;
    hb.name = _me.name;
    hb.rank = _me.rank;
    hb.state = _state;
    hb.epoch = _replica.epoch();
    hb.seq = _replica.last().seq;
    hb.last_epoch = _replica.last().epoch;
    if (_follower.running()) {
        hb.following = _follower.server_name();
        hb.repl_session = _follower.session();
    }
    _beacon.send(encode_frame(hb), zmq::send_flags::dontwait);
    _next_heartbeat = now + _options.cluster.heartbeat;
}

std::string broker::impl::server_name(steady_time now) const {
    if (serving()) return _me.name;
    const heartbeat* s = _peers.best_server(now);
    return s ? s->name : std::string{};
}

std::string broker::impl::files_note() const {
    const content_gate& g = _follower.gate();
    std::string out;
    if (g.pending_files() > 0)
        out += "; fetching " + std::to_string(g.pending_files()) + " files (" +
               std::to_string((g.pending_bytes() + (1 << 20) - 1) >> 20) + " MiB to go)";
    if (!g.trouble().empty()) out += "; " + g.trouble();
    return out;
}

std::string broker::impl::note(steady_time now) const {
    const std::string server = _follower.server_name();
    switch (_state) {
        case broker_state::starting:
            return "starting: listening " + std::to_string(_options.cluster.expiry.count()) +
                   " ms for a broker that already serves";
        case broker_state::stalled: {
            if (_refused)
                return "stopped following " + _refused->server + ": it sent what this replica cannot apply (" +
                       _refused->why + "); not synchronised until it serves in a new epoch or another broker serves";
            auto silent = _peers.silent_peers(now);
            std::string names;
            for (const auto& n : silent) names += (names.empty() ? "" : ", ") + n;
            if (!silent.empty())
                return "nobody serves and this broker cannot prove it holds every acknowledged change: waiting to "
                       "hear " + names + "; if they are gone for good, run `starbus force " + _me.name + "`";
            return "nobody serves: waiting for the broker with the newest changes to take over";
        }
        case broker_state::syncing: return "catching up with " + server + files_note();
        case broker_state::passive:
            if (_peers.alive(server, now))
                return "replica of " + server + files_note() +
                       (_reconciler.empty() ? std::string{} : "; " + _reconciler.describe());
            if (_peers.may_take_over(now)) return server + " is silent: serves on the next client request";
            return server + " is silent: a synchronised broker of lower rank takes over";
        case broker_state::active: return "";
        case broker_state::handover: return "handing the role over to " + _successor;
    }
    return "";
}

broker::broker(broker_options options) : _impl(std::make_unique<impl>(std::move(options))) {}
broker::~broker() = default;
void broker::run(const std::atomic<bool>& stop) { _impl->run(stop); }

}  // namespace starbus
