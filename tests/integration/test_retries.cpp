// File: test_retries.cpp
// A retry after a failover (protocol.md SET: "If (client_id, request_id) names
// a request the replicated state remembers as applied, the server SHALL NOT
// apply it again; it SHALL answer ACK with the recorded position"): a
// configuration change applied by the primary and retried on a backup is
// acknowledged with its position, not refused as a configuration change.
#include <catch2/catch.hpp>

#include <starbus/config/cluster_config.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::ask;
using starbus::test::test_cluster;

namespace {

// The request endpoint of broker `name` in the cluster file.
std::string endpoint_of_broker(const test_cluster& c, const std::string& name) {
    return starbus::load_cluster_file(c.cluster_file()).find(name)->request_endpoint();
}

}  // namespace

TEST_CASE("retries: a change retried on another server is answered with its recorded position, whatever its class",
          "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    zmq::context_t ctx;
    const auto dealer = [&](const std::string& broker) {
        zmq::socket_t s(ctx, zmq::socket_type::dealer);
        s.set(zmq::sockopt::linger, 0);
        s.connect(endpoint_of_broker(c, broker));
        return s;
    };
    const starbus::set_request config{77, 0xC0FFEE, starbus::change_op::put, starbus::change_class::config,
                                      "retried.config", "v"};
    const starbus::set_request operational{78, 0xC0FFEE, starbus::change_op::put,
                                           starbus::change_class::operational, "retried.op", "w"};
    zmq::socket_t to_a = dealer("A");
    auto first = ask(to_a, starbus::encode(config));
    REQUIRE(first);
    const auto* ack = std::get_if<starbus::ack_reply>(&*first);
    REQUIRE(ack);
    const starbus::position applied{ack->epoch, ack->seq};
    CHECK(applied.seq > 0);
    auto op_first = ask(to_a, starbus::encode(operational));
    REQUIRE(op_first);
    const auto* op_ack = std::get_if<starbus::ack_reply>(&*op_first);
    REQUIRE(op_ack);

    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
    zmq::socket_t to_b = dealer("B");
    for (const auto& [request, recorded] :
         {std::pair{config, applied}, std::pair{operational, starbus::position{op_ack->epoch, op_ack->seq}}}) {
        INFO("request " << request.request_id);
        auto again = ask(to_b, starbus::encode(request));
        REQUIRE(again);
        const auto* retry_ack = std::get_if<starbus::ack_reply>(&*again);
        REQUIRE(retry_ack);  // not CONFIG_REFUSED: it was accepted once, by the primary
        CHECK(retry_ack->request_ids == std::vector<std::uint64_t>{request.request_id});
        CHECK(starbus::position{retry_ack->epoch, retry_ack->seq} == recorded);  // not (0, 0)
    }
    // A new configuration change is still refused while the primary is down.
    auto fresh = config;
    fresh.request_id = 79;
    auto refused = ask(to_b, starbus::encode(fresh));
    REQUIRE(refused);
    CHECK(starbus::test::error_of(refused) == starbus::error_code::config_refused);
}
