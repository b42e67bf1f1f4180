// File: connection.cpp
// DEALER and SUB lifecycle, non-blocking send/receive, polling (connection.hpp).
#include "connection.hpp"

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <starbus/security/curve_sockets.hpp>
#include <starbus/wire/codec.hpp>

namespace starbus::client_detail {

void configure_client_socket(zmq::socket_t& s) {
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::maxmsgsize, limits::max_frame_bytes);
}

int poll_items(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout) {
    if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
    try {
        return zmq::poll(items, count, timeout);
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return 0;  // a signal: the caller looks at its flags and comes back
        throw;
    }
}

connection::connection(zmq::context_t& context) : _context(context) {}

void connection::open_request(const broker_info& b) {
    close_request();
    zmq::socket_t s(_context, zmq::socket_type::dealer);
    configure_client_socket(s);
    _attachment = !_own_key && _loss_watch == loss_watch::attachment;
    _dealer_attached = false;
    _dealer_lost = false;
    _attachment_news = _attachment;
    // A pipelined client keeps up to a window of requests queued: never let
    // libzmq's default HWM be what limits it. Watched by attachment, no limit at all, so that a DEALER that
    // cannot send has no pipe (no connection) rather than a full one.
    s.set(zmq::sockopt::sndhwm, _attachment ? 0 : 100000);
    s.set(zmq::sockopt::rcvhwm, 100000);
    if (_attachment) s.set(zmq::sockopt::immediate, 1);
    if (_own_key) make_curve_client(s, *_own_key, b.public_key);
    // Before connect(): a refused key, or the broker's death (its connection closed), is told at once.
    if (_own_key || _loss_watch == loss_watch::monitor) _dealer_monitor.emplace(_context, s);
    s.connect(b.request_endpoint());
    _dealer.emplace(std::move(s));
    _dealer_broker = b.name;
}

void connection::close_request() {
    _dealer_monitor.reset();
    _dealer.reset();  // linger 0: queued requests die with the socket
    _dealer_broker.clear();
    _attachment = false;
    _dealer_attached = false;
    _dealer_lost = false;
    _attachment_news = false;
}

connection::attachment_news connection::request_attachment() {
    attachment_news news;
    if (!_dealer || !_attachment || _dealer_lost || !_attachment_news) return news;
    _attachment_news = false;
    // Reading ZMQ_EVENTS also lets the socket take in what its I/O thread told it (a pipe attached or gone).
    // No send limit: a DEALER that cannot send has no pipe, rather than a full one.
    const bool can_send = (_dealer->get(zmq::sockopt::events) & ZMQ_POLLOUT) != 0;
    if (can_send && !_dealer_attached) news.came_up = _dealer_attached = true;
    if (!can_send && _dealer_attached) news.lost = _dealer_lost = true;
    return news;
}

bool connection::send_request(std::string_view frame) {
    if (!_dealer) return false;
    try {
        auto sent = _dealer->send(zmq::const_buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
        if (!sent) _attachment_news = _attachment;  // no pipe (yet, or any more)
        return sent.has_value();
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return false;
        throw;
    }
}

bool connection::send_frame(zmq::message_t& frame) {
    if (!_dealer) return false;
    try {
        const bool sent = _dealer->send(frame, zmq::send_flags::dontwait).has_value();
        if (!sent) _attachment_news = _attachment;  // no pipe (yet, or any more)
        return sent;
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return false;
        throw;
    }
}

bool connection::send_request_owned(std::string&& frame) {
    if (!_dealer) return false;
    auto* owned = new std::string(std::move(frame));
    zmq::message_t m(owned->data(), owned->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); },
                     owned);
    return send_frame(m);
}

std::optional<zmq::message_t> connection::receive_request() {
    if (!_dealer) return std::nullopt;
    zmq::message_t m;
    try {
        if (!_dealer->recv(m, zmq::recv_flags::dontwait)) {
            _attachment_news = _attachment;  // the receive may have taken in a pipe gone
            return std::nullopt;
        }
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return std::nullopt;
        throw;
    }
    // Replies are single frames; drop the rest of anything longer.
    while (m.more()) {
        zmq::message_t extra;
        if (!_dealer->recv(extra, zmq::recv_flags::dontwait) || !extra.more()) break;
    }
    return m;
}

void connection::open_subscriber(const broker_info& b, const std::set<std::string>& prefixes) {
    close_subscriber();
    zmq::socket_t s(_context, zmq::socket_type::sub);
    configure_client_socket(s);
    // A mirror that misses published changes must resync: hold plenty.
    s.set(zmq::sockopt::rcvhwm, 100000);
    for (const auto& p : prefixes) s.set(zmq::sockopt::subscribe, p);
    if (_own_key) make_curve_client(s, *_own_key, b.public_key);
    // Before connect(): the handshake cannot be missed.
    if (_watch_handshake || _own_key) _sub_monitor.emplace(_context, s);
    s.connect(b.publish_endpoint());
    _sub.emplace(std::move(s));
}

void connection::close_subscriber() {
    _sub_monitor.reset();
    _sub_handshaken = false;
    _sub_failed = false;
    _sub.reset();
}

bool connection::subscriber_handshaken() {
    read_subscriber_monitor();
    return _sub_handshaken;
}

bool connection::subscriber_failed() {
    read_subscriber_monitor();
    return _sub_failed;
}

void connection::read_subscriber_monitor() {
    if (!_sub_monitor) return;
    const handshake_monitor::seen seen = _sub_monitor->read();
    _sub_handshaken = _sub_handshaken || seen.succeeded;
    _sub_failed = _sub_failed || seen.key_refused || seen.failed;
}

handshake_monitor::seen connection::request_handshakes() {
    return _dealer_monitor ? _dealer_monitor->read() : handshake_monitor::seen{};
}

void connection::subscribe(std::string_view prefix) {
    if (_sub) _sub->set(zmq::sockopt::subscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

void connection::unsubscribe(std::string_view prefix) {
    if (_sub) _sub->set(zmq::sockopt::unsubscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

std::optional<connection::published> connection::receive_published() {
    while (_sub) {
        published p;
        try {
            if (!_sub->recv(p.head, zmq::recv_flags::dontwait)) return std::nullopt;
            if (!p.head.more()) continue;  // one frame: not a starbus publication
            // The rest of a multipart message is already here (atomic delivery).
            (void)_sub->recv(p.body, zmq::recv_flags::dontwait);
            if (!p.body.more()) return p;
            // More than two frames: drain and drop.
            zmq::message_t extra;
            while (_sub->recv(extra, zmq::recv_flags::dontwait) && extra.more()) {
            }
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) return std::nullopt;
            throw;
        }
    }
    return std::nullopt;
}

connection::readiness connection::wait(std::chrono::milliseconds timeout, int watch_fd) {
    zmq::pollitem_t items[5];
    std::size_t n = 0;
    int dealer_at = -1, raw_at = -1, sub_at = -1, fd_at = -1, monitor_at = -1;
    if (_dealer) {
        dealer_at = static_cast<int>(n);
        // Watched by attachment, until its first connection is up: also wake when it can send, so that what
        // could not be sent before goes at once.
        const bool connecting = _attachment && !_dealer_attached;
        items[n++] = {_dealer->handle(), 0, static_cast<short>(connecting ? ZMQ_POLLIN | ZMQ_POLLOUT : ZMQ_POLLIN), 0};
        if (_attachment && _dealer_attached && !_dealer_lost) {
            // Once up: also wake when libzmq tells the socket anything (its ZMQ_FD signals every command, a pipe
            // taken away included), which the item above would swallow (zmq_poll reads ZMQ_EVENTS, finds no
            // message, and waits on). The caller's request_attachment() then sees whether it was a loss.
            raw_at = static_cast<int>(n);
            items[n++] = {nullptr, _dealer->get(zmq::sockopt::fd), ZMQ_POLLIN, 0};
        }
    }
    if (_sub) {
        sub_at = static_cast<int>(n);
        items[n++] = {_sub->handle(), 0, ZMQ_POLLIN, 0};
    }
    if (_dealer_monitor) {
        monitor_at = static_cast<int>(n);
        items[n++] = {_dealer_monitor->socket().handle(), 0, ZMQ_POLLIN, 0};
    }
    if (watch_fd >= 0) {
        fd_at = static_cast<int>(n);
        items[n++] = {nullptr, watch_fd, ZMQ_POLLIN, 0};
    }
    readiness r;
    if (n == 0) {
        if (timeout.count() > 0) std::this_thread::sleep_for(timeout);
        return r;
    }
    if (poll_items(items, n, timeout) <= 0) return r;
    r.request = dealer_at >= 0 && (items[dealer_at].revents & ZMQ_POLLIN);
    if (dealer_at >= 0 && ((items[dealer_at].revents & ZMQ_POLLOUT) || (raw_at >= 0 && items[raw_at].revents)))
        _attachment_news = true;
    r.subscriber = sub_at >= 0 && (items[sub_at].revents & ZMQ_POLLIN);
    r.watched_fd = fd_at >= 0 && (items[fd_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR));
    r.handshake = monitor_at >= 0 && (items[monitor_at].revents & ZMQ_POLLIN);
    return r;
}

}  // namespace starbus::client_detail
