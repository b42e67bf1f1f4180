// File: handshake_monitor.cpp
#include "handshake_monitor.hpp"

#include <random>
#include <cstring>
#include <string>

namespace starbus::client_detail {
namespace {

constexpr int watched_events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED;

// Each monitor needs an inproc address of its own within the context (which other clients may share).
std::string unique_address() {
    std::random_device random;
    const std::uint64_t id = (std::uint64_t{random()} << 32) ^ random();
    return "inproc://starbus-handshake-monitor-" + std::to_string(id);
}

}  // namespace

handshake_monitor::handshake_monitor(zmq::context_t& context, zmq::socket_t& watched)
    : _watched(watched.handle()), _pair(context, zmq::socket_type::pair) {
    _pair.set(zmq::sockopt::linger, 0);
    const std::string address = unique_address();
    if (zmq_socket_monitor(watched.handle(), address.c_str(), watched_events) != 0)
        throw zmq::error_t();
    _pair.connect(address);
}

handshake_monitor::~handshake_monitor() {
    // What is queued for us is read and dropped first, so that no event waits on a full pipe while the monitoring
    // stops; then libzmq closes its end under the lock its event sends hold.
    try {
        (void)read();
    } catch (const zmq::error_t&) {
        // The context is ending (ETERM): nothing is left to read, and libzmq stops the monitoring itself.
    }
    zmq_socket_monitor(_watched, nullptr, 0);
}

handshake_monitor::seen handshake_monitor::read() {
    seen s;
    for (int i = 0; i < 64; ++i) {
        // An event is two frames: 6 bytes (event number, value), then the endpoint.
        zmq::message_t event, endpoint;
        try {
            if (!_pair.recv(event, zmq::recv_flags::dontwait)) break;
            if (event.more()) (void)_pair.recv(endpoint, zmq::recv_flags::dontwait);
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) break;
            throw;
        }
        std::uint16_t number = 0;
        if (event.size() >= sizeof number) std::memcpy(&number, event.data(), sizeof number);
        if (number == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) s.succeeded = true;
        else if (number == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) s.key_refused = true;
        // An established connection closed, or a connection attempt was refused (libzmq retries it later):
        // either way the kernel says no broker process is there now.
        else if (number == ZMQ_EVENT_DISCONNECTED || number == ZMQ_EVENT_CONNECT_RETRIED) s.connection_lost = true;
        else s.failed = true;
    }
    return s;
}

}  // namespace starbus::client_detail
