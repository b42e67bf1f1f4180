// File: test_curve_sockets.cpp
// CURVE on real sockets over loopback (curve_sockets.hpp, RFC 26): a ROUTER
// made a CURVE server and a DEALER made a CURVE client that knows the
// server's key exchange messages both ways; a client with the wrong server
// key, or without CURVE, gets nothing through. No ZAP handler runs here, so
// libzmq lets any client key in (RFC 27: no handler, no authentication):
// what the handler decides is tested in test_access_control.cpp. Waits are
// polls with a deadline, never sleeps.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <zmq.hpp>

#include <starbus/security/curve_sockets.hpp>

using namespace starbus;
using namespace std::chrono_literals;

namespace {

// Whether `s` has a message to read within `timeout`.
bool readable_within(zmq::socket_t& s, std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    return (item.revents & ZMQ_POLLIN) != 0;
}

// A ROUTER, CURVE server on the request port's domain, bound to a free loopback port.
struct curve_server {
    explicit curve_server(zmq::context_t& ctx) : socket(ctx, zmq::socket_type::router) {
        socket.set(zmq::sockopt::linger, 0);
        make_curve_server(socket, keys, zap_domain_requests);
        socket.bind("tcp://127.0.0.1:*");
        endpoint = socket.get(zmq::sockopt::last_endpoint);
    }
    curve_key_pair keys = generate_curve_key_pair();
    zmq::socket_t socket;
    std::string endpoint;
};

zmq::socket_t dealer(zmq::context_t& ctx) {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    return s;
}

}  // namespace

TEST_CASE("curve_sockets: a CURVE client that knows the server's key talks to it both ways",
          "[security][curve_sockets]") {
    zmq::context_t ctx;
    curve_server server(ctx);
    CHECK(server.socket.get(zmq::sockopt::mechanism) == ZMQ_CURVE);
    CHECK(server.socket.get(zmq::sockopt::curve_server));
    CHECK(server.socket.get(zmq::sockopt::zap_domain) == "starbus.requests");
    CHECK(server.endpoint.rfind("tcp://127.0.0.1:", 0) == 0);

    const curve_key_pair client_keys = generate_curve_key_pair();
    zmq::socket_t client = dealer(ctx);
    make_curve_client(client, client_keys, server.keys.public_key);
    CHECK(client.get(zmq::sockopt::mechanism) == ZMQ_CURVE);
    CHECK_FALSE(client.get(zmq::sockopt::curve_server));
    CHECK(client.get(zmq::sockopt::curve_serverkey, 41) == server.keys.public_key);  // 41: as Z85 text
    CHECK(client.get(zmq::sockopt::curve_publickey, 41) == client_keys.public_key);
    client.connect(server.endpoint);

    REQUIRE(client.send(zmq::str_buffer("hello over curve"), zmq::send_flags::none));
    REQUIRE(readable_within(server.socket, 5000ms));
    zmq::message_t identity, body;
    REQUIRE(server.socket.recv(identity));
    REQUIRE(identity.more());
    REQUIRE(server.socket.recv(body));
    CHECK(body.to_string() == "hello over curve");

    REQUIRE(server.socket.send(identity, zmq::send_flags::sndmore));
    REQUIRE(server.socket.send(zmq::str_buffer("and back"), zmq::send_flags::none));
    REQUIRE(readable_within(client, 5000ms));
    zmq::message_t reply;
    REQUIRE(client.recv(reply));
    CHECK(reply.to_string() == "and back");
}

TEST_CASE("curve_sockets: a client with the wrong server key, or without CURVE, gets nothing through",
          "[security][curve_sockets]") {
    zmq::context_t ctx;
    curve_server server(ctx);

    SECTION("the wrong server key") {
        const curve_key_pair impostor = generate_curve_key_pair();  // the key of some other server
        zmq::socket_t client = dealer(ctx);
        make_curve_client(client, generate_curve_key_pair(), impostor.public_key);
        client.connect(server.endpoint);
        REQUIRE(client.send(zmq::str_buffer("should not arrive"), zmq::send_flags::dontwait));
        CHECK_FALSE(readable_within(server.socket, 300ms));
    }
    SECTION("no CURVE at all") {
        zmq::socket_t client = dealer(ctx);  // the NULL mechanism
        client.connect(server.endpoint);
        REQUIRE(client.send(zmq::str_buffer("plaintext"), zmq::send_flags::dontwait));
        CHECK_FALSE(readable_within(server.socket, 300ms));
    }
    // The same server still serves a client that has its key: the refusals above were the keys', not the port's.
    zmq::socket_t good = dealer(ctx);
    make_curve_client(good, generate_curve_key_pair(), server.keys.public_key);
    good.connect(server.endpoint);
    REQUIRE(good.send(zmq::str_buffer("welcome"), zmq::send_flags::none));
    REQUIRE(readable_within(server.socket, 5000ms));
    zmq::message_t identity, body;
    REQUIRE(server.socket.recv(identity));
    REQUIRE(server.socket.recv(body));
    CHECK(body.to_string() == "welcome");
}

TEST_CASE("curve_sockets: CURVE needs a secret key on both sides", "[security][curve_sockets]") {
    zmq::context_t ctx;
    const curve_key_pair keys = generate_curve_key_pair();
    const curve_key_pair public_only{keys.public_key, {}};
    zmq::socket_t server(ctx, zmq::socket_type::router);
    CHECK_THROWS_AS(make_curve_server(server, public_only, zap_domain_requests), key_error);
    CHECK(server.get(zmq::sockopt::mechanism) == ZMQ_NULL);  // nothing was half set
    zmq::socket_t client = dealer(ctx);
    CHECK_THROWS_AS(make_curve_client(client, public_only, keys.public_key), key_error);
    CHECK(client.get(zmq::sockopt::mechanism) == ZMQ_NULL);
    CHECK(zap_domain_requests != zap_domain_publish);
    CHECK(zap_domain_publish != zap_domain_heartbeat);
    CHECK(std::string(zap_endpoint) == "inproc://zeromq.zap.01");  // RFC 27's fixed endpoint
}
