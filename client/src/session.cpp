// File: session.cpp
// The Lazy Pirate engine of the client (session.hpp): connect, ping, walk,
// re-send, follow the server, keep the mirror in step.
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

// How many frames one service round reads from a socket before looking at
// its timers again (fairness between the sockets).
constexpr int read_batch = 4096;
// The longest single wait, so that huge deadlines never reach zmq_poll.
constexpr milliseconds max_wait{1000};

std::string check_key(std::string_view key) {
    if (key.empty()) return "the key is empty";
    if (key.size() > limits::max_key_bytes)
        return "the key is " + std::to_string(key.size()) + " bytes, over the limit of " +
               std::to_string(limits::max_key_bytes);
    return {};
}

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
      _attempt_timeout(options.effective_attempt_timeout()),
      _ping_interval(options.ping_interval()),
      _client_id(options.client_id != 0 ? options.client_id : random_client_id()),
      _conn(context),
      _walk(std::max<std::size_t>(1, options.cluster.brokers.size()), _client_id),
      _table(options.window),
      _files(download_settings(options), [this] { return next_request_id(); }) {
    if (options.cluster.brokers.empty())
        throw config_error("the cluster lists no brokers: give the client a cluster file with at least one [[broker]]");
    if (options.mirror_state) _prefixes.insert(std::string(state_prefix));
}

// ---- requests ----

std::uint64_t session::add_request(pending_request r, const std::string& invalid_reason) {
    const auto id = r.id;
    _table.add(std::move(r));
    if (!invalid_reason.empty()) {
        get_result g;
        g.status = result_status::invalid;
        g.message = invalid_reason;
        _table.complete(id, std::move(g));
    } else {
        start();
    }
    return id;
}

std::uint64_t session::submit_change(const change_request& c, clock::time_point deadline, bool ordered) {
    set_request m;
    m.request_id = next_request_id();
    m.client_id = _client_id;
    m.op = c.op;
    m.cls = c.cls;
    m.key = c.key;
    if (c.op == change_op::put) m.value = c.value;
    std::string why = check_key(c.key);
    if (why.empty() && m.value.size() > limits::max_value_bytes)
        why = "the value is " + std::to_string(m.value.size()) + " bytes, over the limit of " +
              std::to_string(limits::max_value_bytes);
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::change;
    r.deadline = deadline;
    r.ordered = ordered;
    r.key = c.key;
    if (why.empty()) r.frame = encode(m);
    return add_request(std::move(r), why);
}

std::uint64_t session::submit_publish(std::string_view topic, std::string_view payload, clock::time_point deadline,
                                      bool ordered) {
    publish_request m;
    m.request_id = next_request_id();
    m.client_id = _client_id;
    m.topic = topic;
    m.payload = payload;
    std::string why;
    if (topic.empty()) why = "the topic is empty";
    else if (topic.size() > limits::max_topic_bytes)
        why = "the topic is " + std::to_string(topic.size()) + " bytes, over the limit of " +
              std::to_string(limits::max_topic_bytes);
    else if (payload.size() > limits::max_payload_bytes)
        why = "the payload is " + std::to_string(payload.size()) + " bytes, over the limit of " +
              std::to_string(limits::max_payload_bytes);
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::publish;
    r.deadline = deadline;
    r.ordered = ordered;
    r.key = std::string(topic);
    if (why.empty()) r.frame = encode(m);
    return add_request(std::move(r), why);
}

std::uint64_t session::submit_get(std::string_view key, clock::time_point deadline) {
    get_request m;
    m.request_id = next_request_id();
    m.key = key;
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::get;
    r.deadline = deadline;
    r.key = std::string(key);
    std::string why = check_key(key);
    if (why.empty()) r.frame = encode(m);
    return add_request(std::move(r), why);
}

std::uint64_t session::submit_file_put(const file_entry& entry, const std::filesystem::path& local,
                                       std::chrono::milliseconds stall) {
    file_put_request m;
    m.request_id = next_request_id();
    m.client_id = _client_id;
    m.path = entry.path;
    m.size = entry.size;
    m.hash = entry.hash;
    m.xxh = entry.xxh;
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::change;
    r.deadline = clock::now() + stall;
    r.key = entry.path;
    std::string why;
    if (_files.offer(entry, local, &why)) {
        r.frame = encode(m);
        _puts[{entry.path, entry.hash}] = put_state{m.request_id, stall};
        why.clear();
    }
    return add_request(std::move(r), why);
}

std::uint64_t session::submit_file_remove(const std::string& path, clock::time_point deadline) {
    file_remove_request m{next_request_id(), _client_id, path};
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::change;
    r.deadline = deadline;
    r.key = path;
    r.frame = encode(m);
    return add_request(std::move(r), {});
}

std::uint64_t session::submit_file_list(const std::string& from, std::uint32_t limit, clock::time_point deadline) {
    file_list_request m{next_request_id(), from, limit};
    pending_request r;
    r.id = m.request_id;
    r.kind = request_kind::file_list;
    r.deadline = deadline;
    r.key = from;
    r.frame = encode(m);
    return add_request(std::move(r), {});
}

std::optional<file_list_reply> session::take_listing(std::uint64_t id) {
    auto it = _listings.find(id);
    if (it == _listings.end()) return std::nullopt;
    file_list_reply out = std::move(it->second);
    _listings.erase(it);
    return out;
}

void session::serve_upload(clock::time_point now, const fetch_request& r) {
    zmq::message_t frame = _files.serve(r);
    (void)_conn.send_frame(frame);  // a full socket drops it: the server asks again after its restart
    if (auto it = _puts.find({r.path, r.hash}); it != _puts.end())
        _table.extend_deadline(it->second.request_id, now + it->second.stall);
}

void session::send_file_orders() {
    for (const auto& frame : _files.orders())
        if (!_conn.send_request(frame)) {
            _files.restart();  // libzmq is full: ask again later, from where each file stopped
            return;
        }
}

// ---- subscriptions, outputs ----

void session::subscribe(const std::string& prefix, const subscribe_options& start_at) {
    _bus.add(prefix, start_at);
    if (_bus_fallback) {
        const std::string p = std::string(bus_prefix) + prefix;
        if (!_prefixes.insert(p).second) return;
        if (_conn.subscriber_open()) _conn.subscribe(p);
        else if (_announced)
            if (const auto* b = _options.cluster.find(_announced->name)) _conn.open_subscriber(*b, _prefixes);
    }
    start();
}

void session::unsubscribe(const std::string& prefix) {
    _bus.remove(prefix);
    const std::string p = std::string(bus_prefix) + prefix;
    if (_prefixes.erase(p) == 0) return;
    _conn.unsubscribe(p);
}

void session::send_bus_fetch() {
    // Backpressure, not loss: a consumer that does not keep up is simply asked for less, later.
    const std::size_t room = std::max<std::size_t>(1, _options.max_queued_messages);
    if (_bus_fallback || !_bus.active() || _messages.size() >= room) return;
    const auto max = static_cast<std::uint32_t>(std::min<std::size_t>(1000, room - _messages.size()));
    // The server holds the fetch until a message is committed; pongs keep the connection alive meanwhile.
    auto f = _bus.next_fetch(next_request_id(), _client_id, 1000, max);
    if (f && !_conn.send_request(encode(*f))) _bus.abandon();
}

void session::handle_bus_batch(const bus_batch& b) {
    auto d = _bus.on_batch(b);
    if (!d) return;
    if (d->gap) _events.push_back(*d->gap);
    for (auto& m : d->messages) _messages.push_back(std::move(m));
    if (!d->messages.empty()) _new_message = true;
}

void session::fall_back_to_sub() {
    // The cluster keeps no bus log ([bus] retain_messages = 0): best-effort delivery over the SUB socket.
    _bus_fallback = true;
    for (const auto& p : _bus.prefixes()) _prefixes.insert(std::string(bus_prefix) + p);
    if (_announced)
        if (const auto* b = _options.cluster.find(_announced->name)) _conn.open_subscriber(*b, _prefixes);
}

std::optional<bus_message> session::pop_message() {
    if (_messages.empty()) return std::nullopt;
    bus_message m = std::move(_messages.front());
    _messages.pop_front();
    return m;
}

std::deque<client_event> session::take_events() {
    std::deque<client_event> out;
    out.swap(_events);
    return out;
}

// ---- driving ----

void session::start() {
    if (_started) return;
    _started = true;
    _connect_at = clock::now();
    // First contact: ask every broker at once who serves, so that a client started while the primary is
    // down does not spend a whole attempt timeout on it. A live broker answers STATUS at once.
    if (_options.cluster.brokers.size() < 2) return;
    const auto wait = std::min(_attempt_timeout, milliseconds(250));
    const auto rows = probe_status(_context, _options.cluster, [this] { return next_request_id(); },
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

bool session::service(clock::time_point until, int watch_fd) {
    _new_message = false;
    _files_moved = false;
    auto now = clock::now();
    if (!_started && (!_prefixes.empty() || _bus.active())) start();  // a mirror or subscriber needs the server
    // Silence counts only while we listen: after the application kept us
    // away from the sockets, first read what arrived meanwhile; then, unless
    // a ping of ours went unanswered for a whole attempt (the broker had all
    // that time: it is silent, however rarely we are called), give the
    // broker a fresh attempt to answer.
    if (_conn.request_open() && now - _last_serviced > _ping_interval) {
        const auto queued = _conn.wait(milliseconds(0));
        if (queued.request) read_requests(now);
        if (queued.subscriber) read_published();
        const bool asked_unanswered = _ping_unanswered_since && now - *_ping_unanswered_since > _attempt_timeout;
        if (_conn.request_open()) {
            if (asked_unanswered) {
                _last_rx = *_ping_unanswered_since;  // housekeeping below leaves this broker
            } else {
                _last_rx = now;
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
        _last_serviced = now;
        if (r.request) read_requests(now);
        if (r.subscriber) read_published();
        if (r.watched_fd) fd_ready = true;
        if (done || fd_ready || _table.has_finished() || !_events.empty() || _new_message || _files_moved) break;
    }
    housekeeping(clock::now());  // send what the replies made due (e.g. re-sends to a new server)
    return fd_ready;
}

void session::housekeeping(clock::time_point now) {
    if (_started) {
        if (!_conn.request_open() && now >= _connect_at) connect(now);
        if (_conn.request_open() && now - _last_rx > _attempt_timeout) {
            _walk.mark_silent();
            leave(now, current_name() + " did not answer within " + millis(_attempt_timeout));
        }
        if (_conn.request_open()) {
            if (now - _last_rx >= _ping_interval && now - _last_ping >= _ping_interval) send_ping(now);
            _table.release_due_resends(now);
            send_unsent();
            if (_options.mirror_state && _confirmed && _mirror.sync_wanted() && !_mirror.sync_in_flight() &&
                now >= _sync_retry_at)
                start_mirror_sync(now);
            if (_confirmed) {
                send_file_orders();
                send_bus_fetch();
            }
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

clock::time_point session::next_wake(clock::time_point now, clock::time_point until) const {
    auto t = until;
    if (_started) {
        if (!_conn.request_open()) {
            t = std::min(t, _connect_at);
        } else {
            t = std::min(t, _last_rx + _attempt_timeout + milliseconds(1));
            t = std::min(t, std::max(_last_rx, _last_ping) + _ping_interval);
            if (_options.mirror_state && _confirmed && _mirror.sync_wanted() && !_mirror.sync_in_flight() &&
                _sync_retry_at > now)
                t = std::min(t, _sync_retry_at);
        }
    }
    if (auto n = _table.next_timer()) t = std::min(t, *n);
    return t;
}

void session::connect(clock::time_point now) {
    const broker_info& b = current_broker();
    _conn.open_request(b);
    _last_rx = now;
    _ping_unanswered_since.reset();  // a new connection: nothing asked of it yet
    _confirmed = false;
    _server.reset();
    _mirror.abandon_sync();  // it travelled on the old DEALER, which is gone
    // Everything unacknowledged goes to the new broker unchanged, oldest
    // first; the server dedupes what it had already applied.
    _table.mark_all_unsent();
    _files.restart();  // downloads resume from the new broker where each file stopped
    _bus.abandon();    // the fetch in flight went with the old connection: ask again from the same position
    send_ping(now);  // its pong tells whether this broker serves
}

void session::leave(clock::time_point now, const std::string& reason, const std::string& hint) {
    _trouble = reason;
    if (_server) {
        _events.push_back(server_lost{_server->name, reason});
        // Whoever is found next (even this broker again) is announced anew.
        _announced.reset();
    }
    _conn.close_request();
    _confirmed = false;
    _server.reset();
    _mirror.abandon_sync();
    _bus.abandon();
    broker_walk::step step;
    const broker_info* named = hint.empty() ? nullptr : _options.cluster.find(hint);
    step = named ? _walk.redirect(named->rank) : _walk.advance();
    _connect_at = now + step.pause;
    if (step.pause.count() == 0) connect(now);
}

void session::distrust_server(const std::string& reason) {
    if (_conn.request_open()) leave(clock::now(), reason);
}

void session::confirm(clock::time_point, std::uint64_t epoch) {
    if (_confirmed && _server && _server->epoch == epoch) return;
    if (_confirmed && _server && _server->name == current_name()) {
        // The same broker serves at a new epoch: it restarted (our DEALER reconnected by itself, and what
        // was in flight died with the old process) or it stepped down and took over again. Ask again for
        // everything unanswered, as after a failover; the server dedupes what it had applied.
        _table.mark_all_unsent(false);
        _mirror.abandon_sync();
        _files.restart();
        _bus.abandon();
    }
    if (!_confirmed) _walk.serving();
    _confirmed = true;
    _server = server_info{current_name(), epoch};
    if (!_announced || _announced->name != _server->name || _announced->epoch != epoch) announce(*_server);
}

void session::announce(const server_info& s) {
    _announced = s;
    _events.push_back(server_changed{s.name, s.epoch});
    // Publications come from the server only: follow it.
    if (!_prefixes.empty())
        if (const auto* b = _options.cluster.find(s.name)) _conn.open_subscriber(*b, _prefixes);
    if (_options.mirror_state) _mirror.new_server();
}

void session::send_ping(clock::time_point now) {
    _last_ping = now;
    if (!_ping_unanswered_since) _ping_unanswered_since = now;
    // Its own request_id, which the pong echoes (protocol.md "PING"); this session needs only that some answer
    // arrives (any traffic counts), so it does not match pongs. Until this broker is confirmed as the server,
    // the client has none it can use: the ping asks this broker to serve (a vote, if its server is silent too).
    // Once confirmed, pings only keep the link alive.
    static_cast<void>(_conn.send_request(encode(ping{_client_id, next_request_id(), !_confirmed})));
}

void session::send_unsent() {
    // Stops when libzmq is full: the rest go later, in order.
    _table.send_unsent([this](const std::string& frame) { return _conn.send_request(frame); });
}

void session::start_mirror_sync(clock::time_point now) {
    const snapshot_request req = _mirror.start_sync(next_request_id(), true);
    if (!_conn.send_request(encode(req))) {
        _mirror.abandon_sync();
        _sync_retry_at = now + _ping_interval;
    }
}

void session::read_requests(clock::time_point now) {
    for (int i = 0; i < read_batch && _conn.request_open(); ++i) {
        auto frame = _conn.receive_request();
        if (!frame) return;
        _last_rx = now;  // any traffic counts as a heartbeat
        _ping_unanswered_since.reset();
        if (peek_command(frame->data(), frame->size()) == command::file_chunk) {
            if (auto c = decode_chunk_view(*frame)) {
                (void)_files.on_chunk(*c);
                if (_files.downloads().has_results()) _files_moved = true;
            }
            continue;
        }
        decode_result d = decode(*frame);
        if (!d.ok()) continue;  // not ours, or newer than us: nothing sensible to answer
        const std::string from = _conn.request_broker();
        handle(now, *d.value);
        // A reply may have made us leave this broker: the rest of its queue is gone.
        if (_conn.request_broker() != from) return;
    }
}

void session::read_published() {
    for (int i = 0; i < read_batch; ++i) {
        auto p = _conn.receive_published();
        if (!p) return;
        std::string_view head(static_cast<const char*>(p->head.data()), p->head.size());
        if (head.substr(0, bus_prefix.size()) == bus_prefix) {
            if (_messages.size() >= std::max<std::size_t>(1, _options.max_queued_messages)) {
                _messages.pop_front();
                ++_dropped_messages;
            }
            bus_message m;
            m.topic = std::string(head.substr(bus_prefix.size()));
            m.payload = p->body.to_string();
            _messages.push_back(std::move(m));
            _new_message = true;
        } else if (head == state_prefix && _options.mirror_state) {
            decode_result d = decode(p->body);
            if (!d.ok()) continue;
            if (const auto* batch = std::get_if<change_batch>(&*d.value)) _mirror.on_published(*batch);
        }
    }
}

void session::handle(clock::time_point now, const message& m) {
    if (const auto* a = std::get_if<ack_reply>(&m)) {
        for (auto id : a->request_ids) {
            get_result g;
            g.position = position{a->epoch, a->seq};
            g.server = current_name();
            _table.complete(id, std::move(g));
        }
    } else if (const auto* v = std::get_if<value_reply>(&m)) {
        const pending_request* r = _table.find(v->request_id);
        if (!r) return;
        get_result g;
        g.server = current_name();
        if (v->found) {
            g.value = v->value;
            g.cls = v->cls;
            g.position = position{v->epoch, v->seq};
        } else {
            g.status = result_status::not_found;
            g.message = "no value for key \"" + r->key + "\"";
        }
        _table.complete(v->request_id, std::move(g));
    } else if (const auto* e = std::get_if<error_reply>(&m)) {
        handle_error(now, *e);
    } else if (const auto* p = std::get_if<pong>(&m)) {
        handle_pong(now, *p);
    } else if (const auto* part = std::get_if<snapshot_part>(&m)) {
        handle_sync_outcome(_mirror.on_part(*part));
    } else if (const auto* batch = std::get_if<change_batch>(&m)) {
        handle_sync_outcome(_mirror.on_delta(*batch));
    } else if (const auto* end = std::get_if<snapshot_end>(&m)) {
        handle_sync_outcome(_mirror.on_end(*end));
    } else if (const auto* list = std::get_if<file_list_reply>(&m)) {
        const pending_request* r = _table.find(list->request_id);
        if (!r || r->kind != request_kind::file_list) return;
        get_result g;
        g.server = current_name();
        g.position = position{list->epoch, list->seq};
        _listings[list->request_id] = *list;
        _table.complete(list->request_id, std::move(g));
    } else if (const auto* fetch = std::get_if<fetch_request>(&m)) {
        serve_upload(now, *fetch);
    } else if (const auto* batch = std::get_if<bus_batch>(&m)) {
        handle_bus_batch(*batch);
    }
    // Anything else (status_reply, broker-to-broker commands) is not for a client session.
}

void session::handle_pong(clock::time_point now, const pong& p) {
    if (p.state == broker_state::active || p.state == broker_state::handover) {
        confirm(now, p.epoch);
        if (_options.mirror_state) _mirror.note_server_seq(p.seq);
        return;
    }
    std::string reason = current_name() + " does not serve (it is " + std::string(to_string(p.state));
    if (!p.server.empty() && p.server != current_name()) reason += "; it names " + p.server + " as the server";
    reason += ")";
    leave(now, reason, p.server);
}

void session::handle_error(clock::time_point now, const error_reply& e) {
    const std::string who = current_name();
    const std::string text = e.text.empty() ? std::string(to_string(e.code_value)) : e.text;
    if (_mirror.sync_in_flight() && e.request_id == _mirror.sync_request_id()) {
        _mirror.abandon_sync();
        if (e.code_value == error_code::not_serving) leave(now, who + " does not serve: " + text, e.server);
        else if (e.code_value == error_code::retry_later) _sync_retry_at = now + _walk.retry_later_pause();
        else _sync_retry_at = now + _attempt_timeout;  // unexpected: do not loop on it
        return;
    }
    if (_bus.in_flight() && e.request_id == _bus.in_flight_id()) {
        _bus.abandon();
        if (e.code_value == error_code::refused) return fall_back_to_sub();
        if (e.code_value == error_code::not_serving) leave(now, who + " does not serve: " + text, e.server);
        return;
    }
    if (_files.on_error(e.request_id)) {  // a FETCH of ours: the download says why in take_failed()
        _files_moved = true;
        return;
    }
    if (e.code_value == error_code::not_serving) {
        leave(now, who + " does not serve: " + text, e.server);
        return;
    }
    const pending_request* r = e.request_id != 0 ? _table.find(e.request_id) : nullptr;
    if (!r) return;
    if (e.code_value == error_code::retry_later) {
        // A handover is in progress: the same broker (or its successor) serves in a moment.
        _table.schedule_resend(e.request_id, now + _walk.retry_later_pause());
        return;
    }
    get_result g;
    g.server = e.server.empty() ? who : e.server;
    g.primary = e.primary;
    if (e.code_value == error_code::config_refused && r->unanswered_elsewhere) {
        // The refusal is this broker's; the one that got the request before
        // never answered and may apply it yet: the outcome is unknown.
        g.status = result_status::unreachable;
        g.message = text + "; an earlier attempt went unanswered, so the change may still be applied when " +
                    (e.primary.empty() ? std::string("the primary") : e.primary) + " serves again";
    } else if (e.code_value == error_code::config_refused || e.code_value == error_code::refused ||
               e.code_value == error_code::storage_failed) {
        g.status = result_status::refused;
        g.message = text;
        if (r->kind == request_kind::change) _events.push_back(change_refused{r->key, text, e.primary});
    } else {
        g.status = result_status::invalid;
        g.message = who + " rejected the request (" + std::string(to_string(e.code_value)) + "): " + text;
    }
    _table.complete(e.request_id, std::move(g));
}

void session::handle_sync_outcome(state_mirror::outcome o) {
    if (o != state_mirror::outcome::completed) return;  // a gap makes housekeeping start another sync
    const position at = _mirror.last();
    _events.push_back(synchronised{at.epoch, at.seq, _mirror.last_sync_full()});
}

result session::unreachable_result() const {
    result r;
    r.status = result_status::unreachable;
    if (_confirmed)
        r.message = "no answer from the server " + current_name() +
                    " before the deadline (a change may still be applied)";
    else
        r.message = "no broker reachable before the deadline" + (_trouble.empty() ? "" : " (last: " + _trouble + ")");
    return r;
}

const broker_info& session::current_broker() const { return _options.cluster.brokers[_walk.current()]; }

std::string session::current_name() const { return current_broker().name; }

}  // namespace starbus::client_detail
