// File: test_replica_sessions.cpp
// The acknowledgement rule (protocol.md "Reliability"): a change is
// acknowledged once durable locally and held by the first live synchronised
// replica in rank order (ack = "replica"), by all of them ("all"), or by
// nobody else ("local").
#include <catch2/catch.hpp>

#include "replica_sessions.hpp"

using namespace starbus;
using namespace std::chrono_literals;

namespace {

void beat(peer_view& v, const cluster_config& c, std::uint32_t rank, steady_time t) {
    heartbeat h;
    h.name = c.brokers[rank].name;
    h.rank = rank;
    h.state = broker_state::passive;
    v.record(h, t);
}

}  // namespace

TEST_CASE("replica_sessions: the commit point follows the ack mode", "[replica_sessions]") {
    cluster_config c = builtin_cluster(3);
    c.expiry = 300ms;
    peer_view v(c, 0);
    const steady_time t0{};
    beat(v, c, 1, t0);
    beat(v, c, 2, t0);
    replica_sessions s;
    REQUIRE(s.committable(10, ack_mode::replica, v, t0) == 10);  // no replica: local log only

    auto& b = s.open("id-b", "B", 1, 11);
    b.synced = true;
    b.acked = 7;
    auto& cc = s.open("id-c", "C", 2, 12);
    cc.synced = true;
    cc.acked = 4;
    REQUIRE(s.committable(10, ack_mode::local, v, t0) == 10);
    REQUIRE(s.committable(10, ack_mode::replica, v, t0) == 7);  // B: first in rank order
    REQUIRE(s.committable(10, ack_mode::all, v, t0) == 4);
    REQUIRE(s.committable(5, ack_mode::replica, v, t0) == 5);   // never ahead of the local disk
    REQUIRE(s.synced_count(v, t0) == 2);

    // B falls silent: C is now the first live synchronised replica.
    beat(v, c, 2, t0 + 250ms);
    REQUIRE(s.committable(10, ack_mode::replica, v, t0 + 400ms) == 4);
    // Its session lives on (it is still streamed to) until four expiries of silence.
    REQUIRE(s.drop_silent(v, t0 + 400ms, 300ms).empty());
    REQUIRE(s.drop_silent(v, t0 + 1300ms, 300ms) == std::vector<std::string>{"B"});
    REQUIRE(s.by_name("B") == nullptr);
}

TEST_CASE("replica_sessions: a new hello replaces the broker's old session", "[replica_sessions]") {
    replica_sessions s;
    s.open("id-1", "B", 1, 1).acked = 9;
    s.open("id-2", "B", 1, 2);
    REQUIRE(s.all().size() == 1);
    REQUIRE(s.by_identity("id-1") == nullptr);
    REQUIRE(s.by_name("B")->acked == 0);
    REQUIRE_FALSE(s.by_name("B")->synced);  // not counted until it acknowledged its catch-up
}

TEST_CASE("replica_sessions: a replica counts once it acknowledged its whole catch-up, files included",
          "[replica_sessions]") {
    // A returning broker may spend minutes fetching files after its snapshot: until it holds everything up
    // to the snapshot's position, its acknowledgements must not hold back every write.
    replica_sessions s;
    auto& b = s.open("id-b", "B", 1, 1);
    b.streaming = true;
    b.sync_seq = 50;
    CHECK_FALSE(s.acknowledge(b, 10));
    CHECK_FALSE(b.synced);
    CHECK(b.acked == 10);
    CHECK(s.acknowledge(b, 50));
    CHECK(b.synced);
    CHECK_FALSE(s.acknowledge(b, 60));  // already synchronised: no second report
    CHECK(b.acked == 60);
    CHECK_FALSE(s.acknowledge(b, 20));  // acknowledgements never go back
    CHECK(b.acked == 60);
    auto& fresh = s.open("id-c", "C", 2, 2);
    fresh.streaming = true;
    fresh.sync_seq = 0;  // an empty cluster: its first acknowledgement makes it synchronised
    CHECK(s.acknowledge(fresh, 0));
}
