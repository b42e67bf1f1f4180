// File: connection.hpp
// The sockets of a client, and nothing else: one DEALER to a broker's request
// endpoint (P) and one SUB to the serving broker's publish endpoint (P+1).
// Each is closed with linger 0 and reopened to move to another broker, so
// that thousands of failovers leave no file descriptors or queued messages
// behind (the Lazy Pirate rule: never reuse a socket that may hold a stale
// request). A building block of starbus::client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

#include "handshake_monitor.hpp"

namespace starbus::client_detail {

// Socket options shared by every client socket: no linger, frames over the
// protocol limit dropped by libzmq itself.
void configure_client_socket(zmq::socket_t& s);

// Polls one set of sockets, treating EINTR (a signal) as "nothing ready".
// Returns the number of ready items.
int poll_items(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout);

class connection {
  public:
    explicit connection(zmq::context_t& context);

    // CURVE: every socket opened from now on proves `own` and accepts only a broker holding the public
    // key the cluster file gives it; request sockets are watched for a refused key.
    void secure_with(const curve_key_pair& own) { _own_key = own; }

    // ---- request socket (DEALER) ----
    // Closes any previous DEALER (linger 0: what it still queued is dropped)
    // and connects a new one to `b`'s request endpoint.
    void open_request(const broker_info& b);
    void close_request();
    [[nodiscard]] bool request_open() const { return _dealer.has_value(); }
    // The broker the DEALER is connected to ("" when closed).
    [[nodiscard]] const std::string& request_broker() const { return _dealer_broker; }
    // Sends one frame without blocking. False when libzmq would block (the
    // caller keeps the request and sends it later) or no DEALER is open.
    [[nodiscard]] bool send_request(std::string_view frame);
    // The same for a frame built in place (a CHUNK read straight into it).
    [[nodiscard]] bool send_frame(zmq::message_t& frame);
    // Sends `frame` without copying it: libzmq frees it once sent (a batch of publishes, built for one send).
    [[nodiscard]] bool send_request_owned(std::string&& frame);
    // One frame from the DEALER, if one is waiting.
    [[nodiscard]] std::optional<zmq::message_t> receive_request();
    // How the DEALERs opened from now on show that their connection closed (the broker's process is gone, and
    // the session walks on at once instead of after an attempt's silence):
    //   - monitor (the default): a socket monitor (request_handshakes()), which also tells a refused connection
    //     attempt (nobody listens there). Two sockets more and an inproc endpoint per DEALER: cheap in a context
    //     of one's own; in a context shared by many clients, libzmq makes every socket close scan all of the
    //     context's inproc endpoints.
    //   - attachment: no socket more. The DEALER is opened with ZMQ_IMMEDIATE and no send limit (the session's
    //     window bounds what it queues), so libzmq gives it a pipe only while a connection is up and takes the
    //     pipe away when the connection closes: once connected, a DEALER that cannot send lost its connection
    //     (request_attachment()). A refused attempt shows nothing: an attempt's silence finds it. Sends fail
    //     until the first connection is up: the caller sends them when request_attachment() says it came up
    //     (wait() wakes for it, and for a loss).
    // With CURVE a monitor watches anyway, for a refused key.
    enum class loss_watch { monitor, attachment };
    void watch_request_connection(loss_watch how) { _loss_watch = how; }
    // The DEALER's handshakes and lost connections since the last call (nothing when not watched by a monitor).
    [[nodiscard]] handshake_monitor::seen request_handshakes();
    // Watched by attachment: what the current DEALER's connection did since the last call (reads without
    // waiting; nothing when not watched by attachment).
    struct attachment_news {
        bool came_up = false;  // its first connection is up: what could not be sent before can go now
        bool lost = false;     // it was up and is gone now (libzmq reconnects in vain: the broker's process is gone)
    };
    [[nodiscard]] attachment_news request_attachment();

    // ---- publish socket (SUB) ----
    // Closes any previous SUB and subscribes a new one to `b`'s publish endpoint
    // with every prefix in `prefixes`.
    void open_subscriber(const broker_info& b, const std::set<std::string>& prefixes);
    void close_subscriber();
    [[nodiscard]] bool subscriber_open() const { return _sub.has_value(); }
    void subscribe(std::string_view prefix);
    void unsubscribe(std::string_view prefix);
    // Whether the SUBs opened from now on are watched (a socket monitor) for
    // the completion of their handshake, after which libzmq sends the
    // subscriptions first. Only the best-effort bus needs to know.
    void watch_subscriber_handshake(bool on) { _watch_handshake = on; }
    // The current SUB's connection completed its handshake (reads the
    // monitor without waiting; false when not watched).
    [[nodiscard]] bool subscriber_handshaken();
    // CURVE: the current SUB's handshake failed (its key refused, or the
    // broker not holding its key). libzmq never retries such a connection:
    // the caller opens a new SUB.
    [[nodiscard]] bool subscriber_failed();
    // One published message (two frames: prefix+topic, payload), if one is
    // waiting. Messages with another number of frames are dropped.
    struct published {
        zmq::message_t head;
        zmq::message_t body;
    };
    [[nodiscard]] std::optional<published> receive_published();

    // ---- waiting ----
    struct readiness {
        bool request = false;
        bool subscriber = false;
        bool watched_fd = false;
        bool handshake = false;  // the DEALER's handshake monitor has news (request_handshakes())
    };
    // Waits up to `timeout` for either socket, or `watch_fd` (if >= 0) to be readable. Returns early, with
    // nothing ready, when a DEALER watched by attachment may have connected or lost its connection.
    [[nodiscard]] readiness wait(std::chrono::milliseconds timeout, int watch_fd = -1);

  private:
    void read_subscriber_monitor();

    zmq::context_t& _context;
    std::optional<curve_key_pair> _own_key;
    std::optional<zmq::socket_t> _dealer;
    loss_watch _loss_watch = loss_watch::monitor;
    std::optional<handshake_monitor> _dealer_monitor;
    bool _attachment = false;       // the current DEALER is watched by attachment (ZMQ_IMMEDIATE)
    bool _dealer_attached = false;  // ... and a connection of it has come up (it could send)
    bool _dealer_lost = false;      // ... and that connection is gone (told once)
    // ... and the socket may have taken in a pipe attached or gone since request_attachment() last looked: it
    // looks only then, as reading ZMQ_EVENTS costs a system call. libzmq processes such news in zmq_poll (which
    // wait() then sees on the raw ZMQ_FD or as POLLOUT), in a send (which then fails) or in a receive that
    // finds nothing more.
    bool _attachment_news = false;
    std::string _dealer_broker;
    std::optional<zmq::socket_t> _sub;
    bool _watch_handshake = false;
    std::optional<handshake_monitor> _sub_monitor;
    bool _sub_handshaken = false;
    bool _sub_failed = false;
};

}  // namespace starbus::client_detail
