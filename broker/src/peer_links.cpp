// File: peer_links.cpp
#include "peer_links.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <starbus/security/curve_sockets.hpp>

namespace starbus {
namespace {

// How many frames one drain takes from one link (a heartbeat every few milliseconds at most).
constexpr int frames_per_drain = 4096;

int reconnect_interval_ms(const cluster_config& c) {
    // A restarted peer must be heard again within a heartbeat, not after libzmq's default 100 ms back-off.
    return static_cast<int>(std::clamp<long>(c.heartbeat.count() / 4, 5, 100));
}

}  // namespace

peer_links::peer_links(zmq::context_t& context, const cluster_config& cluster, std::uint32_t me,
                       std::optional<curve_key_pair> key)
    : _cluster(cluster), _key(std::move(key)) {
    for (const auto& b : cluster.brokers) {
        if (b.rank == me) continue;
        link l{b.rank, zmq::socket_t(context, zmq::socket_type::sub), zmq::socket_t(context, zmq::socket_type::pair)};
        l.sub.set(zmq::sockopt::linger, 0);
        // Heartbeats are small: anything larger makes libzmq drop the connection.
        l.sub.set(zmq::sockopt::maxmsgsize, std::int64_t{64 * 1024});
        l.sub.set(zmq::sockopt::subscribe, "");
        l.sub.set(zmq::sockopt::reconnect_ivl, reconnect_interval_ms(cluster));
        l.monitor.set(zmq::sockopt::linger, 0);
        // Each monitor needs an inproc address of its own within the context.
        const std::string address = "inproc://starbus-peer-link-" + std::to_string(b.rank);
        if (zmq_socket_monitor(l.sub.handle(), address.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) throw zmq::error_t();
        l.monitor.connect(address);
        dial(l);
        _links.push_back(std::move(l));
    }
}

peer_links::~peer_links() {
    for (auto& l : _links) {
        try {
            (void)drain_events(l);
        } catch (const zmq::error_t&) {
            // The context is ending (ETERM): nothing is left to read.
        }
        zmq_socket_monitor(l.sub.handle(), nullptr, 0);
    }
}

void peer_links::dial(link& l) {
    const broker_info& b = _cluster.brokers[l.rank];
    // CURVE: libzmq takes the server key at connect(), so each peer is checked against its own key.
    if (_key) make_curve_client(l.sub, *_key, b.public_key);
    l.sub.connect(b.heartbeat_endpoint());
}

void peer_links::redial(std::uint32_t rank) {
    for (auto& l : _links) {
        if (l.rank != rank) continue;
        try {
            l.sub.disconnect(_cluster.brokers[rank].heartbeat_endpoint());
        } catch (const zmq::error_t&) {
            // Not connected any more: libzmq dropped it after the failed handshake.
        }
        dial(l);
    }
}

void peer_links::add_poll_items(std::vector<zmq::pollitem_t>& items) {
    for (auto& l : _links) {
        items.push_back({l.sub.handle(), 0, ZMQ_POLLIN, 0});
        items.push_back({l.monitor.handle(), 0, ZMQ_POLLIN, 0});
    }
}

void peer_links::drain(const std::vector<zmq::pollitem_t>& items, std::size_t first,
                       const std::function<void(std::uint32_t, zmq::message_t&)>& on_frame,
                       const std::function<void(std::uint32_t)>& on_lost) {
    for (std::size_t i = 0; i < _links.size(); ++i) {
        const std::size_t at = first + 2 * i;
        if (at + 1 >= items.size()) break;
        link& l = _links[i];
        if (items[at].revents & ZMQ_POLLIN) drain_frames(l, on_frame);
        if ((items[at + 1].revents & ZMQ_POLLIN) && drain_events(l)) {
            // What the peer sent before the loss may have reached the SUB after it was read above: read it
            // first, so that the loss is recorded after the last heartbeat, never before it.
            drain_frames(l, on_frame);
            on_lost(l.rank);
        }
    }
}

void peer_links::drain_frames(link& l, const std::function<void(std::uint32_t, zmq::message_t&)>& on_frame) {
    for (int n = 0; n < frames_per_drain; ++n) {
        zmq::message_t frame;
        if (!l.sub.recv(frame, zmq::recv_flags::dontwait)) return;
        on_frame(l.rank, frame);
    }
}

bool peer_links::drain_events(link& l) {
    bool lost = false;
    for (int n = 0; n < 64; ++n) {
        // An event is two frames: 6 bytes (event number, value), then the endpoint.
        zmq::message_t event, endpoint;
        if (!l.monitor.recv(event, zmq::recv_flags::dontwait)) break;
        if (event.more()) (void)l.monitor.recv(endpoint, zmq::recv_flags::dontwait);
        std::uint16_t number = 0;
        if (event.size() >= sizeof number) std::memcpy(&number, event.data(), sizeof number);
        if (number == ZMQ_EVENT_DISCONNECTED) lost = true;
    }
    return lost;
}

}  // namespace starbus
