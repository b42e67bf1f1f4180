// File: peer_links.hpp
// The broker's links to its peers' heartbeat ports (P+2): one SUB socket per
// peer, each watched by a socket monitor for the loss of its connection.
// One socket per peer, rather than one for all, so that a heartbeat is known
// by the connection it came on (with CURVE: by the key that connection proved)
// and a lost connection names its peer without parsing addresses. The kernel
// closes a killed process's connections at once: that is how a crashed server
// is known dead in milliseconds instead of after an expiry (peer_view).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <zmq.hpp>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

namespace starbus {

class peer_links {
  public:
    // Connects to every broker of `cluster` but `me`; with `key` (CURVE), each link proves it and accepts only
    // the key the cluster file gives that peer.
    peer_links(zmq::context_t& context, const cluster_config& cluster, std::uint32_t me,
               std::optional<curve_key_pair> key);
    // Stops every monitor before the sockets close: libzmq sends monitor events with a blocking send, and an event
    // of a SUB's teardown sent to a monitor already closed would block the I/O thread, and the context's end.
    ~peer_links();
    peer_links(const peer_links&) = delete;
    peer_links& operator=(const peer_links&) = delete;

    // Appends the poll items of every link (heartbeats and monitor events) to `items`.
    void add_poll_items(std::vector<zmq::pollitem_t>& items);

    // Reads what the links polled from index `first` of `items` (as add_poll_items put them) have: every
    // heartbeat frame goes to on_frame(rank of the link, frame); each lost connection goes to on_lost(rank),
    // after the frames that came before the loss on that link.
    void drain(const std::vector<zmq::pollitem_t>& items, std::size_t first,
               const std::function<void(std::uint32_t, zmq::message_t&)>& on_frame,
               const std::function<void(std::uint32_t)>& on_lost);

    // Dials `rank` again: libzmq never retries a connection whose CURVE handshake failed.
    void redial(std::uint32_t rank);

  private:
    struct link {
        std::uint32_t rank = 0;
        zmq::socket_t sub;
        zmq::socket_t monitor;  // PAIR: the SUB's ZMQ_EVENT_DISCONNECTED events
    };
    void dial(link& l);
    void drain_frames(link& l, const std::function<void(std::uint32_t, zmq::message_t&)>& on_frame);
    [[nodiscard]] bool drain_events(link& l);  // true: the connection was lost

    const cluster_config& _cluster;
    std::optional<curve_key_pair> _key;
    std::vector<link> _links;
};

}  // namespace starbus
