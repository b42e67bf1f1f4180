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

// A heartbeat of broker `rank`, naming its replication session `session` (protocol.md "Replication sessions").
void beat(peer_view& v, const cluster_config& c, std::uint32_t rank, steady_time t, std::uint64_t session) {
    heartbeat h;
    h.name = c.brokers[rank].name;
    h.rank = rank;
    h.state = broker_state::passive;
    h.repl_session = session;
    v.record(h, t);
}

}  // namespace

TEST_CASE("replica_sessions: the commit point follows the ack mode", "[replica_sessions]") {
    cluster_config c = builtin_cluster(3);
    c.expiry = 300ms;
    peer_view v(c, 0);
    const steady_time t0{};
    beat(v, c, 1, t0, 11);
    beat(v, c, 2, t0, 12);
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
    beat(v, c, 2, t0 + 250ms, 12);
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
    b.sent = 60;
    CHECK(s.acknowledge(b, 10) == ack_outcome::recorded);
    CHECK_FALSE(b.synced);
    CHECK(b.acked == 10);
    CHECK(s.acknowledge(b, 50) == ack_outcome::synchronised);
    CHECK(b.synced);
    CHECK(s.acknowledge(b, 60) == ack_outcome::recorded);  // already synchronised: no second report
    CHECK(b.acked == 60);
    CHECK(s.acknowledge(b, 20) == ack_outcome::recorded);  // acknowledgements never go back
    CHECK(b.acked == 60);
    auto& fresh = s.open("id-c", "C", 2, 2);
    fresh.streaming = true;
    fresh.sync_seq = 0;  // an empty cluster: its first acknowledgement makes it synchronised
    CHECK(s.acknowledge(fresh, 0) == ack_outcome::synchronised);
}

TEST_CASE("replica_sessions: an acknowledgement beyond what the session was sent is not counted", "[replica_sessions]") {
    // protocol.md REPL-ACK: "A server MUST NOT count an acknowledgement beyond the last seq it sent on the session."
    replica_sessions s;
    auto& b = s.open("id-b", "B", 1, 1);
    b.streaming = true;
    b.sent = 5;
    CHECK(s.acknowledge(b, std::uint64_t{1} << 62) == ack_outcome::beyond_sent);
    CHECK(b.acked == 0);
    CHECK_FALSE(b.synced);
    CHECK(s.acknowledge(b, 5) == ack_outcome::synchronised);
}

TEST_CASE("replica_sessions: only the session the replica's own heartbeats name counts, and a second hello does not "
          "replace it",
          "[replica_sessions]") {
    // protocol.md "Replication sessions".
    cluster_config c = builtin_cluster(2);
    c.expiry = 300ms;
    peer_view v(c, 0);
    const steady_time t0{};
    replica_sessions s;
    auto& real = s.open("id-real", "B", 1, 41, t0, &v);
    real.streaming = true;
    real.synced = true;
    real.sent = real.acked = 10;
    beat(v, c, 1, t0, 41);
    REQUIRE(replica_sessions::confirmed(real, v));
    REQUIRE(s.committable(10, ack_mode::replica, v, t0) == 10);

    // A peer poses as B: its session stays beside the confirmed one and counts for nothing.
    auto& fake = s.open("id-fake", "B", 1, 666, t0, &v);
    fake.streaming = true;
    fake.synced = true;
    fake.sent = fake.acked = 20;
    REQUIRE(s.all().size() == 2);
    REQUIRE(s.by_name("B", &v)->identity == "id-real");
    REQUIRE(s.committable(20, ack_mode::replica, v, t0) == 10);  // B holds 10, whatever the fake says
    REQUIRE(s.synced_count(v, t0) == 1);
    s.prune(v, t0 + 100ms, 300ms);  // it has an expiry for B's heartbeats to name it
    REQUIRE(s.all().size() == 2);
    s.prune(v, t0 + 300ms, 300ms);  // they did not: it goes
    REQUIRE(s.all().size() == 1);
    REQUIRE(s.by_identity("id-fake") == nullptr);

    // B restarts its link: its heartbeats name the new session, which then replaces the old one.
    s.open("id-new", "B", 1, 42, t0 + 400ms, &v);
    REQUIRE(s.all().size() == 2);
    s.prune(v, t0 + 410ms, 300ms);
    REQUIRE(s.all().size() == 2);  // the new one waits for its confirmation; the old one is still confirmed
    beat(v, c, 1, t0 + 420ms, 42);
    s.prune(v, t0 + 420ms, 300ms);
    REQUIRE(s.all().size() == 1);
    REQUIRE(s.by_identity("id-new") != nullptr);
    // Not synchronised yet: no replica counts.
    REQUIRE(s.committable(20, ack_mode::replica, v, t0 + 420ms) == 20);
}
