// File: raw_peer.hpp
// Talking to a broker below the client library, for tests of hostile input:
// the request endpoint named in a cluster file, one raw frame sent on a
// DEALER and its decoded answer, and the error code of an ERROR answer; and a
// peer below libzmq (send_zmtp_message) that speaks ZMTP 3.0 itself, to send
// what libzmq's own sockets would refuse to build (a 10 MiB subscription).
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include <zmq.hpp>

#include <starbus/wire/codec.hpp>

namespace starbus::test {

// The request endpoint of the broker of rank `rank` in a cluster file (rank order is file order).
inline std::string endpoint_of_rank(const std::string& cluster_file, int rank) {
    std::ifstream f(cluster_file);
    std::string line;
    for (int seen = 0; std::getline(f, line);)
        if (line.rfind("endpoint = \"", 0) == 0 && seen++ == rank) return line.substr(12, line.size() - 13);
    return {};
}

// The first endpoint in a cluster file (the primary's request endpoint).
inline std::string endpoint_of(const std::string& cluster_file) { return endpoint_of_rank(cluster_file, 0); }

// tcp://HOST:P -> tcp://HOST:(P + offset): a broker's publish (1) or heartbeat (2) port.
inline std::string port_plus(const std::string& endpoint, int offset) {
    const auto colon = endpoint.rfind(':');
    return endpoint.substr(0, colon + 1) + std::to_string(std::stoi(endpoint.substr(colon + 1)) + offset);
}

// A DEALER connected to `endpoint`, with linger 0.
inline zmq::socket_t raw_dealer(zmq::context_t& ctx, const std::string& endpoint) {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint);
    return s;
}

// Sends one raw frame and returns the decoded answer (nullopt: no answer in time).
inline std::optional<starbus::message> ask(zmq::socket_t& s, const std::string& frame) {
    s.send(zmq::buffer(frame));
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(3000)) == 0) return std::nullopt;
    zmq::message_t reply;
    (void)s.recv(reply);
    auto d = starbus::decode(reply);
    if (!d.ok()) return std::nullopt;
    return *d.value;
}

inline starbus::error_code error_of(const std::optional<starbus::message>& m) {
    REQUIRE(m.has_value());
    const auto* e = std::get_if<starbus::error_reply>(&*m);
    REQUIRE(e != nullptr);
    return e->code_value;
}

// Connects to tcp://HOST:PORT as a ZMTP 3.0 peer of `socket_type` (NULL mechanism), sends one message of
// `body` (one long frame), and closes. Returns how many bytes of it the peer took before it closed the
// connection (all of them when it never did). A test's way to send what a libzmq socket would choke on
// itself: an XSUB or SUB keeps every subscription it sends in a recursive trie, and a 10 MiB prefix
// overflows the sender's stack.
inline std::size_t send_zmtp_message(const std::string& endpoint, const std::string& socket_type,
                                     const std::string& body) {
    const auto colon = endpoint.rfind(':');
    const std::string host = endpoint.substr(6, colon - 6);  // after "tcp://"
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    REQUIRE(inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    // Greeting: signature, version 3.0, mechanism "NULL", as-server 0, filler.
    std::string out("\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00", 12);
    out += std::string("NULL") + std::string(16, '\0');
    out += std::string(1 + 31, '\0');
    // READY with Socket-Type.
    std::string ready = std::string("\x05READY", 6);
    ready += static_cast<char>(11);
    ready += "Socket-Type";
    const auto n = static_cast<std::uint32_t>(socket_type.size());
    ready += std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                         static_cast<char>(n)};
    ready += socket_type;
    out += static_cast<char>(0x04);  // a short command
    out += static_cast<char>(ready.size());
    out += ready;
    // One long frame.
    out += static_cast<char>(0x02);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((std::uint64_t{body.size()} >> shift) & 0xff);
    const std::size_t header = out.size();
    out += body;
    std::size_t sent = 0;
    while (sent < out.size()) {
        const ssize_t k = ::send(fd, out.data() + sent, std::min<std::size_t>(out.size() - sent, 1 << 16), MSG_NOSIGNAL);
        if (k <= 0) break;  // the peer closed the connection
        sent += static_cast<std::size_t>(k);
    }
    ::close(fd);
    return sent > header ? sent - header : 0;
}

}  // namespace starbus::test
