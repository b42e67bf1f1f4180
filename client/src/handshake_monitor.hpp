// File: handshake_monitor.hpp
// What libzmq tells about a socket's handshakes (zmq_socket_monitor): that
// one completed (after which a SUB's subscriptions are on their way), or that
// a CURVE server refused this client's key (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
// its ZAP handler said no), or that a handshake failed otherwise (a server
// that does not hold the key the cluster file gives it: an impostor, or a
// mismatched configuration), or that a connection was lost or refused (the
// broker's process died or is not running: the kernel closed or refused it). A client that learns its
// key was refused, or its broker gone, acts at once instead of waiting out a
// time-out. A building block of starbus::client.
#pragma once

#include <cstdint>
#include <optional>

#include <zmq.hpp>

namespace starbus::client_detail {

class handshake_monitor {
  public:
    // Attach before `watched` connects, so that its first handshake cannot be missed. `watched` must outlive
    // this monitor.
    handshake_monitor(zmq::context_t& context, zmq::socket_t& watched);
    // Stops the monitoring before closing its end: libzmq's I/O thread sends each event with a blocking send, so
    // an event of the watched socket's teardown sent to a monitor nobody reads any more would block that thread
    // for good (every socket of the context with it).
    ~handshake_monitor();
    handshake_monitor(const handshake_monitor&) = delete;
    handshake_monitor& operator=(const handshake_monitor&) = delete;

    [[nodiscard]] zmq::socket_t& socket() { return _pair; }

    // What happened since the last call (reads without waiting).
    struct seen {
        bool succeeded = false;     // a handshake completed
        bool key_refused = false;   // the server refused this client's key (ZAP status 400)
        bool failed = false;        // a handshake failed for another reason (the server's key is not the expected one)
        bool connection_lost = false;  // a connection closed, or was refused (DISCONNECTED, CONNECT_RETRIED)
    };
    [[nodiscard]] seen read();

  private:
    void* _watched;
    zmq::socket_t _pair;
};

}  // namespace starbus::client_detail
