// File: test_alone_rule.cpp
// The when_alone rule (alone_rule.hpp), which both the write path and the
// commit path ask: docs/protocol.md "Serving alone".
#include <catch2/catch.hpp>

#include "alone_rule.hpp"

using namespace starbus;

namespace {

cluster_config refusing(std::size_t brokers, ack_mode ack) {
    cluster_config c = builtin_cluster(brokers);
    c.when_alone = alone_policy::refuse;
    c.ack = ack;
    return c;
}

}  // namespace

TEST_CASE("alone rule: refuse with no synchronised replica, under replica and all", "[alone_rule]") {
    // "while it has no live synchronised replica, the server SHALL answer every new write ... with ERROR
    // RETRY_LATER, and SHALL NOT advance its commit point"
    CHECK(refuses_alone(refusing(3, ack_mode::replica), 0));
    CHECK(refuses_alone(refusing(2, ack_mode::all), 0));
}

TEST_CASE("alone rule: one synchronised replica is enough", "[alone_rule]") {
    CHECK_FALSE(refuses_alone(refusing(3, ack_mode::replica), 1));
    CHECK_FALSE(refuses_alone(refusing(3, ack_mode::all), 2));
}

TEST_CASE("alone rule: never under accept, ack local, or in a one-broker cluster", "[alone_rule]") {
    cluster_config accepting = refusing(3, ack_mode::replica);
    accepting.when_alone = alone_policy::accept;
    CHECK_FALSE(refuses_alone(accepting, 0));
    // "In a cluster of more than one broker with ack mode replica or all"
    CHECK_FALSE(refuses_alone(refusing(3, ack_mode::local), 0));
    CHECK_FALSE(refuses_alone(refusing(1, ack_mode::replica), 0));
}
