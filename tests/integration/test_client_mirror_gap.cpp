// File: test_client_mirror_gap.cpp
// A mirroring client against a scripted server (a ROUTER and a PUB in this
// process): the server commits a change right after the mirror's sync and
// never publishes it, as when it went out on the publish port before the
// client's new subscription reached it (just after a failover). The mirror
// learns it only from the committed seq in PONG, and must resync well within
// a ping interval, not two (docs/protocol.md "Client behaviour").
#include <catch2/catch.hpp>

#include <optional>

#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/wire/codec.hpp>

#include "testutil.hpp"

using namespace std::chrono_literals;
using starbus::test::wait_until;

namespace {

using steady = std::chrono::steady_clock;

// Broker "A" at `endpoint`, serving at epoch 256: answers PING with its committed seq, and SNAPSHOT with
// its whole (empty, then one change) state.
class scripted_server {
  public:
    scripted_server(zmq::context_t& ctx, const std::string& host, int port)
        : _router(ctx, zmq::socket_type::router), _publisher(ctx, zmq::socket_type::pub) {
        _router.set(zmq::sockopt::linger, 0);
        _publisher.set(zmq::sockopt::linger, 0);
        _router.bind("tcp://" + host + ":" + std::to_string(port));
        _publisher.bind("tcp://" + host + ":" + std::to_string(port + 1));  // subscribed to, never published on
    }

    // Answers what has arrived, without waiting.
    void pump() {
        zmq::message_t id, body;
        while (_router.recv(id, zmq::recv_flags::dontwait) && _router.recv(body, zmq::recv_flags::dontwait)) {
            auto d = starbus::decode(body);
            if (!d.ok()) continue;
            if (const auto* p = std::get_if<starbus::ping>(&*d.value)) {
                reply(id, starbus::encode(
                              starbus::pong{starbus::broker_state::active, 256, _committed, "A", p->request_id}));
            } else if (const auto* s = std::get_if<starbus::snapshot_request>(&*d.value)) {
                ++snapshots;
                if (snapshots == 1) {
                    answer_snapshot(id, s->request_id);
                    // Committed just after the snapshot, and lost on the way to the client's SUB.
                    _committed = 1;
                    first_answered = steady::now();
                } else if (!second_asked) {
                    second_asked = steady::now();
                    answer_snapshot(id, s->request_id);
                }
            }
        }
    }

    int snapshots = 0;
    steady::time_point first_answered{};
    std::optional<steady::time_point> second_asked;

  private:
    void answer_snapshot(const zmq::message_t& id, std::uint64_t request_id) {
        if (_committed > 0) {
            starbus::snapshot_part part;
            part.request_id = request_id;
            part.entries.push_back(starbus::change{.epoch = 256, .seq = 1, .key = "lost.on.the.way", .value = "v"});
            reply(id, starbus::encode(part));
        }
        starbus::snapshot_end end;
        end.request_id = request_id;
        end.epoch = 256;
        end.seq = _committed;
        reply(id, starbus::encode(end));
    }

    void reply(const zmq::message_t& id, const std::string& frame) {
        _router.send(zmq::buffer(id.data(), id.size()), zmq::send_flags::sndmore);
        _router.send(zmq::buffer(frame));
    }

    zmq::socket_t _router;
    zmq::socket_t _publisher;
    std::uint64_t _committed = 0;
};

}  // namespace

TEST_CASE("client mirror: a change committed after its sync and never received is fetched within a ping interval",
          "[integration]") {
    const std::string host = starbus::test::random_loopback_host();
    const int port = starbus::test::random_base_port();
    zmq::context_t server_ctx(1);
    scripted_server server(server_ctx, host, port);

    starbus::client_options o;
    o.cluster.heartbeat = 400ms;  // ping interval 400 ms, attempt timeout 1.2 s
    o.cluster.expiry = 1200ms;
    starbus::broker_info a;
    a.name = "A";
    a.host = host;
    a.port = static_cast<std::uint16_t>(port);
    a.endpoint = "tcp://" + host + ":" + std::to_string(port);
    o.cluster.brokers.push_back(a);
    o.mirror_state = true;
    starbus::client cl(o);

    const auto pump = [&] {
        server.pump();
        cl.poll(5ms);
    };
    REQUIRE(wait_until(
        [&] {
            pump();
            return server.snapshots >= 1 && cl.synchronised();
        },
        10s, 0ms));
    // Behind the server from the first PONG after the sync: it asks again after half a ping interval, and
    // resyncs. (It waited for two whole ping intervals, 800 ms here, before.)
    REQUIRE(wait_until(
        [&] {
            pump();
            return server.second_asked.has_value();
        },
        5s, 0ms));
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(*server.second_asked - server.first_answered);
    INFO("the mirror asked again " << waited.count() << " ms after its first sync");
    CHECK(waited < 400ms);
    REQUIRE(wait_until(
        [&] {
            pump();
            return cl.synchronised() && cl.mirror().find("lost.on.the.way");
        },
        5s, 0ms));
}
