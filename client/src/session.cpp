// File: session.cpp
// The Lazy Pirate engine of the client (session.hpp): the link table's
// actions (probe, connect, leave, confirm, replay; link.hpp decides when),
// the service loop and its timers. Requests are in session_requests.cpp,
// replies and their routing to the parts in session_replies.cpp.
#include "session.hpp"

#include "probe.hpp"

#include <algorithm>
#include <random>

#include <starbus/wire/codec.hpp>

namespace starbus::client_detail {
namespace {

using std::chrono::milliseconds;

std::uint64_t random_client_id() {
    std::random_device rd;
    std::uint64_t id = 0;
    while (id == 0) id = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();  // 0 means "internal" on the wire
    return id;
}

std::string millis(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// The longest single wait, so that huge deadlines never reach zmq_poll.
constexpr milliseconds max_wait{1000};

fetch_settings download_settings(const client_options& o) {
    fetch_settings s;
    s.chunk_bytes = o.cluster.files.chunk_bytes;
    s.credit_bytes = o.cluster.files.credit_bytes;
    s.verify_sha256 = o.verify_sha256;
    return s;
}

}  // namespace

session::session(zmq::context_t& context, const client_options& options)
    : _context(context),
      _options(options),
      _timing{options.effective_attempt_timeout(), options.ping_interval()},
      _client_id(options.client_id != 0 ? options.client_id : random_client_id()),
      _conn(context),
      _walk(std::max<std::size_t>(1, options.cluster.brokers.size()), _client_id),
      _table(options.window),
      _files(download_settings(options), [this] { return next_request_id(); }) {
    if (options.cluster.brokers.empty())
        throw config_error("the cluster lists no brokers: give the client a cluster file with at least one [[broker]]");
    // Watching the DEALER with a socket monitor (an inproc endpoint) is cheap in a context of one's own. In a
    // context shared by many clients, libzmq scans every inproc endpoint of the context each time a socket
    // closes, so a thousand monitored clients walking at once after a crash would make closing sockets quadratic
    // (measured: the reaper fell seconds behind and the context ran out of sockets). Those clients watch whether
    // their DEALER still has a connection to send on instead (connection.hpp, loss_watch::attachment): no socket
    // more, and a crashed server is left as soon as the client is serviced, not after an attempt's silence.
    _conn.watch_request_connection(options.context == nullptr ? connection::loss_watch::monitor
                                                              : connection::loss_watch::attachment);
    if (options.cluster.curve()) {
        if (options.key.empty())
            throw config_error("the cluster uses CURVE ([security] mode = \"curve\"): a key is needed; set "
                               "client_options::key from the client's NAME.key (load_secret_key_file; the "
                               "starbus command: --key FILE or STARBUS_KEY)");
        _conn.secure_with(options.key);
    }
    if (options.mirror_state) _prefixes.insert(std::string(state_prefix));
}

// ---- the link (link.hpp) ----

void session::start() {
    if (_link == link_state::idle) on_link(link_event::start, clock::now());
}

void session::on_link(link_event event, clock::time_point now, const std::string& reason, const std::string& hint,
                      std::uint64_t epoch) {
    const link_state was = _link;
    const link_step step = link_transition(was, event);
    if (!step.handled) return;
    _link = step.next;
    namespace act = link_action;
    if (step.actions & act::probe) probe_first_contact();
    if (step.actions & act::mark_silent) _walk.mark_silent();
    if (step.actions & act::leave) leave_broker(now, reason, hint);
    if (step.actions & act::open) connect(now);
    if (step.actions & act::replay) replay_unanswered();
    if (step.actions & act::confirm) confirm(was, epoch);
    // Follow-ups the table's actions made due at once.
    if (_link == link_state::probing) on_link(link_event::probe_done, now);
    else if (_link == link_state::reconnecting && now >= _times.connect_at) on_link(link_event::connect_due, now);
}

void session::probe_first_contact() {
    _times.connect_at = clock::now();
    // First contact: ask every broker at once who serves, so that a client started while the primary is
    // down does not spend a whole attempt timeout on it. A live broker answers STATUS at once.
    if (_options.cluster.brokers.size() < 2) return;
    const auto wait = std::min(_timing.attempt_timeout, milliseconds(250));
    const auto rows = probe_status({_context, _options.key}, _options.cluster, [this] { return next_request_id(); },
                                   clock::now() + wait);
    std::optional<std::size_t> start_at;
    for (const auto& r : rows)
        if (r.reachable && r.role == "active") start_at = r.rank;
    for (const auto& r : rows) {
        if (start_at || !r.reachable) continue;
        const broker_info* named = _options.cluster.find(r.server);
        const bool named_alive = named && rows[named->rank].reachable;
        start_at = named_alive ? named->rank : r.rank;  // who it says serves, else the first broker alive
    }
    if (start_at && *start_at != _walk.current()) (void)_walk.redirect(*start_at);
}

void session::connect(clock::time_point now) {
    const broker_info& b = current_broker();
    _conn.open_request(b);
    _times.last_rx = now;
    _times.ping_unanswered_since.reset();  // a new connection: nothing asked of it yet
    _position_check_at.reset();            // the mirror's next sync brings its own
    _server.reset();
    _mirror.abandon_sync();  // it travelled on the old DEALER, which is gone
    // Everything unacknowledged goes to the new broker unchanged, oldest
    // first; the server dedupes what it had already applied.
    _table.mark_all_unsent();
    _files.restart();  // downloads resume from the new broker where each file stopped
    _bus.abandon();    // the fetch in flight went with the old connection: ask again from the same position
    _sub_ping_id = 0;  // so did a PING counting subscription round trips: wait_subscribed() sends another
    send_ping(now);  // its pong tells whether this broker serves
}

void session::leave_broker(clock::time_point now, const std::string& reason, const std::string& hint) {
    _trouble = reason;
    if (_server) {
        _events.push_back(server_lost{_server->name, reason});
        // Whoever is found next (even this broker again) is announced anew.
        _announced.reset();
    }
    _conn.close_request();
    _server.reset();
    _position_check_at.reset();
    _mirror.abandon_sync();
    _bus.abandon();
    const broker_info* named = hint.empty() ? nullptr : _options.cluster.find(hint);
    const broker_walk::step step = named ? _walk.redirect(named->rank) : _walk.advance();
    _times.connect_at = now + step.pause;
}

void session::distrust_server(const std::string& reason) { on_link(link_event::distrusted, clock::now(), reason); }

void session::replay_unanswered() {
    // The same broker serves at a new epoch: it restarted (our DEALER reconnected by itself, and what was in
    // flight died with the old process) or it stepped down and took over again. Ask again for everything
    // unanswered, as after a failover; the server dedupes what it had applied.
    _table.mark_all_unsent(false);
    _mirror.abandon_sync();
    _files.restart();
    _bus.abandon();
}

void session::confirm(link_state was, std::uint64_t epoch) {
    _key_refusal.clear();  // a broker answered: the key is known again
    if (was != link_state::connected) _walk.serving();
    _server = server_info{current_name(), epoch};
    if (!_announced || _announced->name != _server->name || _announced->epoch != epoch) announce(*_server);
}

void session::announce(const server_info& s) {
    _announced = s;
    _events.push_back(server_changed{s.name, s.epoch});
    // Publications come from the server only: follow it.
    if (!_prefixes.empty())
        if (const auto* b = _options.cluster.find(s.name)) {
            _conn.open_subscriber(*b, _prefixes);
            reset_subscription_check();
        }
    if (_options.mirror_state) _mirror.new_server();
}

std::uint64_t session::send_ping(clock::time_point now) {
    _times.last_ping = now;
    if (!_times.ping_unanswered_since) _times.ping_unanswered_since = now;
    // Its own request_id, which the pong echoes (protocol.md "PING"); this session needs only that some answer
    // arrives (any traffic counts), so it does not match pongs. wants_service() says whether it asks this
    // broker to serve (until it is confirmed) or only keeps the link alive.
    const std::uint64_t id = next_request_id();
    // Not sent while a DEALER watched by attachment is still connecting: housekeeping sends one when it is up.
    _ping_unsent = !_conn.send_request(encode(ping{_client_id, id, wants_service(_link)}));
    return id;
}

// ---- driving ----

bool session::service(clock::time_point until, int watch_fd) {
    _new_message = false;
    _files_moved = false;
    auto now = clock::now();
    if (_link == link_state::idle && (!_prefixes.empty() || _bus.active())) start();  // a mirror or subscriber
    if (back_from_absence(_conn.request_open(), _times, _timing, now)) {
        // First read what arrived while the application kept us away, then see what the wait means.
        const auto queued = _conn.wait(milliseconds(0));
        if (queued.request) read_requests(now);
        if (queued.subscriber) read_published();
        if (_conn.request_open()) {
            if (after_absence(_times, _timing, now) == absence_verdict::silent) {
                _times.last_rx = *_times.ping_unanswered_since;  // housekeeping below leaves this broker
            } else {
                _times.last_rx = now;
                send_ping(now);
            }
        }
    }
    bool fd_ready = false;
    for (;;) {
        now = clock::now();
        housekeeping(now);
        const bool ready = _table.has_finished() || !_events.empty() || _new_message || _files_moved;
        const bool done = ready || now >= until;
        milliseconds wait{0};
        if (!done) wait = std::min(max_wait, std::chrono::ceil<milliseconds>(next_wake(now, until) - now));
        const auto r = _conn.wait(std::max(milliseconds(0), wait), watch_fd);
        now = clock::now();
        _times.last_serviced = now;
        if (r.request) read_requests(now);
        if (r.subscriber) read_published();
        if (r.handshake) check_handshakes();
        if (r.watched_fd) fd_ready = true;
        if (done || fd_ready || _table.has_finished() || !_events.empty() || _new_message || _files_moved) break;
    }
    housekeeping(clock::now());  // send what the replies made due (e.g. re-sends to a new server)
    return fd_ready;
}

void session::check_handshakes() {
    const handshake_monitor::seen seen = _conn.request_handshakes();
    if (seen.key_refused) {
        // Every broker judges by the same access list: walking on would only meet the same answer after a
        // time-out. What waits fails now. libzmq never retries a refused handshake: the link, finding this
        // broker silent, walks on with a new DEALER, so a later grant is noticed at that next connection.
        _key_refusal = "broker " + current_name() + " refused this client's key (public key " +
                       _options.key.public_key.substr(0, 8) +
                       "…): it is not in the access list; an admin grants it with `starbus access grant NAME ROLE "
                       "FILE.pub`";
        _trouble = _key_refusal;
        result r;
        r.status = result_status::not_authorised;
        r.message = _key_refusal;
        _table.fail_outstanding(r);
        _events.push_back(key_refused{current_name(), _key_refusal});
    } else if (seen.failed) {
        _trouble = current_name() + " failed the CURVE handshake: it does not hold the key the cluster file gives "
                                    "it (an impostor at its address, or a cluster file that is out of date)";
    } else if (seen.connection_lost) {
        // The broker's process is gone (the kernel closed its end): the next broker may already be taking over,
        // so go now instead of after an attempt's silence.
        on_link(link_event::connection_lost, clock::now(), current_name() + " closed the connection (it stopped)");
    }
}

void session::housekeeping(clock::time_point now) {
    if (_link != link_state::idle) {
        if (!_conn.request_open() && now >= _times.connect_at) on_link(link_event::connect_due, now);
        const connection::attachment_news attached = _conn.request_attachment();
        if (attached.came_up) {
            // The broker could not answer before its connection was up: the attempt's clock starts now, so
            // that a storm of clients connecting at once (slow handshakes) does not make a live broker silent.
            // A broker that never lets the connection come up is still left after an attempt.
            _times.last_rx = now;
            if (_ping_unsent) send_ping(now);
        }
        if (attached.lost)
            on_link(link_event::connection_lost, now, current_name() + " closed the connection (it stopped)");
        if (_conn.request_open() && link_silent(_times, _timing, now))
            on_link(link_event::silent, now, current_name() + " did not answer within " + millis(_timing.attempt_timeout));
        if (_conn.request_open()) {
            const bool position_check = _position_check_at && now >= *_position_check_at;
            if (position_check) _position_check_at.reset();
            if (ping_due(_times, _timing, now) || position_check) send_ping(now);
            _table.release_due_resends(now);
            send_unsent();
            if (mirror_sync_due(now)) start_mirror_sync(now);
            if (_link == link_state::connected) {
                send_file_orders();
                send_bus_fetch();
            }
        }
    }
    if (_options.cluster.curve() && _server && _conn.subscriber_open() && now >= _sub_retry_at &&
        _conn.subscriber_failed()) {
        // A refused or failed handshake is never retried by libzmq: a later grant (or the broker's new
        // key, after a rotation) needs a new SUB.
        _sub_retry_at = now + _timing.attempt_timeout;
        if (const auto* b = _options.cluster.find(_server->name)) {
            _conn.open_subscriber(*b, _prefixes);
            reset_subscription_check();
        }
    }
    _table.expire(now, [this] { return unreachable_result(); });
    // Offers whose FILE-PUT finished (or expired) are withdrawn.
    for (auto it = _puts.begin(); it != _puts.end();) {
        if (_table.find(it->second.request_id)) {
            ++it;
            continue;
        }
        _files.withdraw(it->first.first, it->first.second);
        it = _puts.erase(it);
    }
}

bool session::mirror_sync_due(clock::time_point now) const {
    return _options.mirror_state && _link == link_state::connected && _mirror.sync_wanted() &&
           !_mirror.sync_in_flight() && now >= _sync_retry_at;
}

clock::time_point session::next_wake(clock::time_point now, clock::time_point until) const {
    auto t = link_wake(_link, _times, _timing, until);
    if (_options.mirror_state && _link == link_state::connected && _mirror.sync_wanted() &&
        !_mirror.sync_in_flight() && _sync_retry_at > now)
        t = std::min(t, _sync_retry_at);
    if (auto n = _table.next_timer()) t = std::min(t, *n);
    if (_position_check_at && _conn.request_open()) t = std::min(t, *_position_check_at);
    return t;
}

void session::send_unsent() {
    // Stops when libzmq is full: the rest go later, in order.
    _table.send_unsent([this](const std::string& frame) { return _conn.send_request(frame); },
                       [this](std::string&& frame) { return _conn.send_request_owned(std::move(frame)); });
}

void session::start_mirror_sync(clock::time_point now) {
    const snapshot_request req = _mirror.start_sync(next_request_id(), true);
    if (!_conn.send_request(encode(req))) {
        _mirror.abandon_sync();
        _sync_retry_at = now + _timing.ping_interval;
    }
}

result session::unreachable_result() const {
    result r;
    if (!_key_refusal.empty()) {
        // Sent after the refusal, to a broker that never answered: the key is why.
        r.status = result_status::not_authorised;
        r.message = _key_refusal;
        return r;
    }
    r.status = result_status::unreachable;
    if (_link == link_state::connected)
        r.message = "no answer from the server " + current_name() +
                    " before the deadline (a change may still be applied)";
    else
        r.message = "no broker reachable before the deadline" + (_trouble.empty() ? "" : " (last: " + _trouble + ")");
    return r;
}

const broker_info& session::current_broker() const { return _options.cluster.brokers[_walk.current()]; }

std::string session::current_name() const { return current_broker().name; }

}  // namespace starbus::client_detail
