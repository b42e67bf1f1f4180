// File: curve_sockets.hpp
// CURVE (RFC 26) on a ZeroMQ socket, as both programs use it: a bound socket
// is a CURVE server whose ZAP domain tells the broker's ZAP handler (RFC 27)
// which port a handshake is for; a connecting socket is a CURVE client that
// proves its own key and checks the server's.
#pragma once

#include <string_view>

#include <zmq.hpp>

#include <starbus/security/key_files.hpp>

namespace starbus {

// The ZAP domains of a broker's three ports (docs/protocol.md "Security").
inline constexpr std::string_view zap_domain_requests = "starbus.requests";
inline constexpr std::string_view zap_domain_publish = "starbus.publish";
inline constexpr std::string_view zap_domain_heartbeat = "starbus.heartbeat";
// Where libzmq sends ZAP requests (RFC 27): an inproc endpoint of the context.
inline constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";

// Before bind(): CURVE server with `own` keys; handshakes go to the ZAP handler under `domain`.
void make_curve_server(zmq::socket_t& s, const curve_key_pair& own, std::string_view domain);
// Before connect(): CURVE client with `own` keys, accepting only a server that holds `server_public_key`'s
// secret. libzmq takes the server key at connect(): set it again before connecting to another server.
void make_curve_client(zmq::socket_t& s, const curve_key_pair& own, std::string_view server_public_key);

}  // namespace starbus
