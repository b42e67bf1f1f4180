// File: session_requests.cpp
// The session's outgoing side (session.hpp): requests checked and queued in
// the request table, uploads offered, downloads ordered, and the bus
// subscription's fetches. What goes out waits in the parts (request_table,
// file_transfers, bus_subscription) until the link is up; session.cpp sends it.
#include "session.hpp"

#include <algorithm>

#include <starbus/wire/codec.hpp>

namespace starbus::client_detail {
namespace {

std::string check_key(std::string_view key) {
    if (key.empty()) return "the key is empty";
    if (key.size() > limits::max_key_bytes)
        return "the key is " + std::to_string(key.size()) + " bytes, over the limit of " +
               std::to_string(limits::max_key_bytes);
    return {};
}

}  // namespace

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
    return submit_change(change_view{c.op, c.cls, c.key, c.value}, deadline, ordered);
}

std::uint64_t session::submit_change(const change_view& c, clock::time_point deadline, bool ordered) {
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
    r.key = std::string(c.key);
    if (why.empty()) r.frame = encode(m);
    return add_request(std::move(r), why);
}

std::uint64_t session::submit_publish(std::string_view topic, std::string_view payload, clock::time_point deadline,
                                      bool ordered) {
    const std::uint64_t request_id = next_request_id();
    std::string why;
    if (topic.empty()) why = "the topic is empty";
    else if (topic.size() > limits::max_topic_bytes)
        why = "the topic is " + std::to_string(topic.size()) + " bytes, over the limit of " +
              std::to_string(limits::max_topic_bytes);
    else if (payload.size() > limits::max_payload_bytes)
        why = "the payload is " + std::to_string(payload.size()) + " bytes, over the limit of " +
              std::to_string(limits::max_payload_bytes);
    pending_request r;
    r.id = request_id;
    r.kind = request_kind::publish;
    r.deadline = deadline;
    r.ordered = ordered;
    r.key = std::string(topic);
    if (why.empty()) r.frame = encode_publish(request_id, _client_id, topic, payload);
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
        reset_subscription_check();  // the new prefix needs its own round trips
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
    _conn.watch_subscriber_handshake(true);  // wait_subscribed() needs to know when the SUB is connected
    for (const auto& p : _bus.prefixes()) _prefixes.insert(std::string(bus_prefix) + p);
    reset_subscription_check();
    if (_announced)
        if (const auto* b = _options.cluster.find(_announced->name)) _conn.open_subscriber(*b, _prefixes);
}

void session::reset_subscription_check() {
    _sub_round_trips = 0;
    _sub_ping_id = 0;
}

bool session::subscriptions_in_place() {
    if (!_bus.active()) return true;
    // With a bus log, the first answered BUS-FETCH fixed the position; later prefixes join at it.
    if (!_bus_fallback) return _bus.placed();
    // Best effort: libzmq sends a SUB's subscriptions first on a new connection, right after its handshake.
    // Two PING round trips to the same broker started after that (the broker's I/O thread read the
    // subscription before the second PING, so its publish socket applies it before it publishes again).
    if (!_announced || !_server || _server->name != _announced->name || !_conn.subscriber_open() ||
        !_conn.subscriber_handshaken())
        return false;
    constexpr int round_trips_needed = 2;
    if (_sub_round_trips >= round_trips_needed) return true;
    if (_sub_ping_id == 0 && _link == link_state::connected) _sub_ping_id = send_ping(clock::now());
    return false;
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

}  // namespace starbus::client_detail
