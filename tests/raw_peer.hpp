// File: raw_peer.hpp
// Talking to a broker below the client library, for tests of hostile input:
// the request endpoint named in a cluster file, one raw frame sent on a
// DEALER and its decoded answer, and the error code of an ERROR answer.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <optional>
#include <string>

#include <zmq.hpp>

#include <starbus/common/codec.hpp>

namespace starbus::test {

// The first endpoint in a cluster file (the primary's request endpoint).
inline std::string endpoint_of(const std::string& cluster_file) {
    std::ifstream f(cluster_file);
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("endpoint = \"", 0) == 0) return line.substr(12, line.size() - 13);
    return {};
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

}  // namespace starbus::test
