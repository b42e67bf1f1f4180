// File: broker.cpp
// The reactor: one thread polls the request, heartbeat and replication
// sockets, drains what is ready as one batch (so that one fdatasync and one
// message per replica cover many requests), then lets the sensors turn what
// changed into FSM events. It owns the sockets and the loop; what a message
// means is the components' business (broker_impl.hpp says who owns what).
#include "broker_impl.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <starbus/security/curve_sockets.hpp>

namespace starbus {
namespace {

// How many messages one batch may take from a socket before the reactor
// makes them durable, replicates and answers.
constexpr int batch_limit = 4096;

// How often the report the HTTP endpoint shows is made anew (a scraper every 100 ms costs the reactor
// nothing more than this).
constexpr std::chrono::milliseconds report_every{250};

// This broker's table in the cluster file; with CURVE, checks first (before the data directory is read) that
// the key it was given is that table's.
const broker_info& find_me(const broker_options& o) {
    const broker_info* me = o.cluster.find(o.name);
    if (!me) {
        std::string names;
        for (const auto& b : o.cluster.brokers) names += (names.empty() ? "" : ", ") + b.name;
        throw config_error("no broker named \"" + o.name + "\" in the cluster file (brokers: " + names + ")");
    }
    if (o.cluster.curve() && o.key.empty())
        throw config_error("the cluster uses CURVE ([security] mode = \"curve\"): start broker " + me->name +
                           " with --key " + me->name + ".key (its secret key file, made by `starbus keygen " +
                           me->name + "`)");
    if (o.cluster.curve() && o.key.public_key != me->public_key)
        throw config_error("the key given with --key is not broker " + me->name + "'s: its public key " +
                           o.key.public_key + " differs from the public_key of " + me->name +
                           " in the cluster file; give " + me->name + "'s own .key file, or update the cluster file");
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

void broker::impl::configure_sockets() {
    for (zmq::socket_t* s : {&_router, &_publisher, &_beacon}) s->set(zmq::sockopt::linger, 0);
    // Frames up to four times the limit are read and answered with TOO_LARGE; only beyond that does libzmq
    // drop the connection unanswered (the bound on what one hostile peer can make the broker buffer).
    _router.set(zmq::sockopt::maxmsgsize, 4 * limits::max_frame_bytes);
    _router.set(zmq::sockopt::sndhwm, 100000);
    _router.set(zmq::sockopt::rcvhwm, 100000);
    _publisher.set(zmq::sockopt::sndhwm, 100000);
    // After a crash every client of the dead server arrives within milliseconds (they see its connections
    // close): libzmq's default backlog of 100 would make the kernel drop the rest of the burst's SYNs, which
    // the clients' kernels send again only after a second. (The kernel caps it at net.core.somaxconn.)
    for (zmq::socket_t* s : {&_router, &_publisher}) s->set(zmq::sockopt::backlog, 4096);
    // What the publish and heartbeat ports receive is subscriptions: a topic prefix each. Anything longer
    // makes libzmq drop the connection, so a peer cannot make the broker store (or match against) megabytes.
    _publisher.set(zmq::sockopt::maxmsgsize, limits::max_subscription_bytes);
    _beacon.set(zmq::sockopt::maxmsgsize, limits::max_subscription_bytes);
    secure_sockets();
    bind_or_explain(_router, _me, 0, "request");
    bind_or_explain(_publisher, _me, 1, "publish");
    _publish_bound = _publisher.get(zmq::sockopt::last_endpoint);
    bind_or_explain(_beacon, _me, 2, "heartbeat");
}

broker::impl::impl(broker_options options)
    : _options(std::move(options)),
      _me(find_me(_options)),
      _router(_ctx, zmq::socket_type::router),
      _publisher(_ctx, zmq::socket_type::xpub),
      _beacon(_ctx, zmq::socket_type::pub),
      _peer_links(_ctx, _options.cluster, _me.rank,
                  _options.cluster.curve() ? std::optional<curve_key_pair>(_options.key) : std::nullopt),
      _replica(_options.data_dir, _options.cluster.fsync, _options.history_capacity, retention_of(_options.cluster)),
      _files(_options.data_dir),
      _peers(_options.cluster, _me.rank),
      // A replica checks SHA-256 too: the store names every object by it, so an object must be what its name says.
      _follower(_ctx, _me.name, _me.rank, _files, _options.cluster.files, true),
      _reconciler(_ctx, _options.data_dir, _files),
      _writes(_replica, *this, _options.cluster, _me),
      _replication(_replica, _peers, *this, _options.cluster, _me),
      _bus(_replica, *this),
      _file_service(_files, _replica, _writes, _follower, _reconciler, *this, _options.cluster, _me),
      _clients(std::max(std::chrono::milliseconds(3000), 3 * _options.cluster.heartbeat)) {
    configure_sockets();
    if (!_options.http.empty())
        // A stuck reactor (the loop waits at most 100 ms per turn) fails /livez after this long.
        _http = std::make_unique<http_endpoint>(
            _options.http, std::max(std::chrono::milliseconds(2000), 2 * _options.cluster.expiry));
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
                                              {_publisher.handle(), 0, ZMQ_POLLIN, 0},
                                              {nullptr, _file_service.installer_fd(), ZMQ_POLLIN, 0}};
        const std::size_t peers_at = items.size();
        _peer_links.add_poll_items(items);
        const std::size_t peers_end = items.size();
        // Where the optional sockets sit in `items` (SIZE_MAX: not polled this turn).
        std::size_t follower_at = items.size();
        if (zmq::socket_t* f = _follower.socket()) items.push_back({f->handle(), 0, ZMQ_POLLIN, 0});
        else follower_at = SIZE_MAX;
        std::size_t reconciler_at = items.size();
        if (zmq::socket_t* r = _reconciler.socket()) items.push_back({r->handle(), 0, ZMQ_POLLIN, 0});
        else reconciler_at = SIZE_MAX;
        std::size_t zap_at = items.size();
        if (_zap) items.push_back({_zap->socket().handle(), 0, ZMQ_POLLIN, 0});
        else zap_at = SIZE_MAX;
        const auto ready = [&](std::size_t at) { return at < items.size() && (items[at].revents & ZMQ_POLLIN); };
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
        _batch_now = now;
        if (_http) _http->turned(now);
        watch_for_freeze(now);  // before anything of this turn is recorded
        if (std::any_of(items.begin() + peers_at, items.begin() + peers_end,
                        [](const zmq::pollitem_t& i) { return (i.revents & ZMQ_POLLIN) != 0; })) {
            drain_peer_links(items, peers_at, now);
            // Before any request of this batch: a broker that wakes up (SIGSTOP, a long pause) must learn
            // that another serves at a higher epoch before it applies anything; a server whose connection
            // was lost is acted on at once, not at the next tick.
            sense(now);
        }
        if (items[1].revents & ZMQ_POLLIN) drain_subscriptions();
        if (items[2].revents & ZMQ_POLLIN) _file_service.drain_installer(_state == broker_state::active, now);
        if (ready(follower_at) && _follower.socket()) drain_follower(now);
        if (ready(reconciler_at) && _reconciler.socket()) _reconciler.drain(now);
        if (ready(zap_at))
            _zap->drain([&](std::string_view domain, std::string_view key) {
                return judge_handshake(_options.cluster, access_now(), domain, key);
            }, now);
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

void broker::impl::drain_peer_links(const std::vector<zmq::pollitem_t>& items, std::size_t first, steady_time now) {
    _peer_links.drain(
        items, first, [&](std::uint32_t rank, const zmq::message_t& frame) { record_heartbeat(rank, frame, now); },
        [&](std::uint32_t rank) {
            const bool was_alive = _peers.alive(rank, now);
            _peers.connection_lost(rank, now);
            if (was_alive)
                spdlog::info("peer {} lost: its heartbeat connection closed (a crashed process, or a restart)",
                             _options.cluster.brokers[rank].name);
        });
}

void broker::impl::record_heartbeat(std::uint32_t link_rank, const zmq::message_t& frame, steady_time now) {
    decode_result d = decode(frame);
    const heartbeat* hb = d.ok() ? std::get_if<heartbeat>(&*d.value) : nullptr;
    // Rate-limited: whatever sits at a peer's address may send as fast as it likes.
    if (hb && hb->rank != link_rank) {
        // Each link is to one peer's address (with CURVE, to its key): it speaks for that peer only.
        ++_bad_messages;
        log_bad_input("dropped a heartbeat naming " + hb->name + " (rank " + std::to_string(hb->rank) +
                          ") that came from " + _options.cluster.brokers[link_rank].name + "'s heartbeat port",
                      now);
    } else if (!hb || !_peers.record(*hb, now)) {
        ++_bad_messages;
        log_bad_input("dropped a heartbeat that is not from a broker of this cluster (" +
                          (d.ok() ? std::string("unknown name or rank") : d.reason) + ")",
                      now);
    }
}

void broker::impl::drain_subscriptions() {
    for (int i = 0; i < batch_limit; ++i) {
        zmq::message_t frame;
        if (!_publisher.recv(frame, zmq::recv_flags::dontwait)) return;
        _bus.on_subscription(frame.to_string_view());
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
        _file_service.install_follower_files();
        if (auto orphans = _follower.take_orphans(); !orphans.empty()) _reconciler.adopt(orphans);
        if (o == follower::outcome::sync_complete) fire(fsm_event::sync_complete, now);
    }
    if (serving()) {
        _file_service.finish_uploads();
        _replication.replicate(_writes.take_batch(), _writes.commit_seq());
        const std::uint64_t unflushed = _replica.last().seq - _replica.flushed_seq();
        const auto flush_started = std::chrono::steady_clock::now();
        _replica.flush();
        if (unflushed > 0 && _options.cluster.fsync == fsync_mode::batch)
            _fsync.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - flush_started).count());
        _reconciler.flush();
        advance_commit(now);
        _file_service.send_upload_orders();
    }
    _file_service.collect_garbage();
    _writes.flush_immediate_acks();
    // Handing over, writes wait for the successor to hold everything: the moment its ack and my flush say so,
    // HANDOVER-GO goes out (this batch), not at the next tick; that wait is the pause clients see.
    if (_state == broker_state::handover) sense(now);
}

void broker::impl::tick(steady_time now) {
    if (_follower.running()) {
        const std::uint64_t session = _follower.session();
        _follower.tick(_replica, now, std::max(_options.cluster.expiry, std::chrono::milliseconds(1000)));
        // A new REPL-HELLO: say so on the heartbeat port now, so that the server counts the session at once.
        if (_follower.session() != session) send_heartbeat(now);
    }
    _replication.tick(now);
    _reconciler.tick(now);
    if (_bus.has_parked()) _bus.wake(_writes.commit_seq(), now, false);
    _file_service.tick(now);
    if (_zap) {
        (void)access_now();  // notices a narrowed list even when no request asks
        redial_silent_peers(now);
    }
    if (_publish_reset_due) reset_publish_port();
    if (_http && now >= _next_report) {
        _http->publish(make_report(now));
        _next_report = now + report_every;
    }
    if (serving()) advance_commit(now);
    sense(now);
    if (now >= _next_heartbeat) send_heartbeat(now);
    // A synchronised broker that outranks the server asks for its role back, every heartbeat until it has it,
    // once nothing is left pending (no change waiting for file content, nothing being fetched); a server
    // handing over repeats HANDOVER-GO until the successor serves.
    if (handover_due(_peers, role_facts_now(), now)) {
        fire(fsm_event::handover_due, now);
        _next_handover_request = now + _options.cluster.heartbeat;
    }
    if (handover_go_unanswered(role_facts_now(), now)) fire(fsm_event::go_unanswered, now);
}

// ---- broker_sink on the sockets ----

void broker::impl::reply(const std::string& identity, const message& m) { reply_frame(identity, encode_frame(m)); }

void broker::impl::reply_frame(const std::string& identity, zmq::message_t&& frame) {
    zmq::message_t id(identity.data(), identity.size());
    if (!_router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return;
    _router.send(frame, zmq::send_flags::dontwait);
}

void broker::impl::reply_error(const std::string& identity, std::uint64_t request_id, error_code code,
                               std::string text) {
    if (static_cast<std::size_t>(code) < _errors_by_code.size()) ++_errors_by_code[static_cast<std::size_t>(code)];
    error_reply e;
    e.request_id = request_id;
    e.code_value = code;
    e.text = std::move(text);
    e.server = server_name(std::chrono::steady_clock::now());
    e.primary = _options.cluster.primary().name;
    reply(identity, e);
}

void broker::impl::reply_not_serving(const std::string& identity, std::uint64_t request_id) {
    const steady_time now = _batch_now;
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

void broker::impl::publish(std::string_view topic_frame, std::string_view body) {
    _publisher.send(zmq::buffer(topic_frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    _publisher.send(zmq::buffer(body), zmq::send_flags::dontwait);
}

void broker::impl::publish(std::string_view topic_frame, zmq::message_t&& body) {
    _publisher.send(zmq::buffer(topic_frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    _publisher.send(body, zmq::send_flags::dontwait);
}

broker::broker(broker_options options) : _impl(std::make_unique<impl>(std::move(options))) {}
broker::~broker() = default;
void broker::run(const std::atomic<bool>& stop) { _impl->run(stop); }

}  // namespace starbus
