// File: test_replication_server.cpp
// The serving side of replication without sockets: a hello from a peer gets a
// session and a snapshot; acknowledgements move the commit point under the
// ack rule once the replica's heartbeats confirm its session; a hello that
// does not name a peer, an ACK beyond what was sent and a HANDOVER from a
// replica that may not ask are refused; the live stream goes to every
// streaming session.
#include <catch2/catch.hpp>

#include "fake_sink.hpp"
#include "replication_server.hpp"
#include "testutil.hpp"

using namespace starbus;
using namespace std::chrono_literals;

namespace {

struct fixture {
    fixture() : cluster(builtin_cluster(3)) {
        cluster.expiry = 300ms;
        replica.set_epoch(4);
        for (std::uint64_t s = 1; s <= 3; ++s) REQUIRE(replica.apply(change_at(s)));
    }
    static change change_at(std::uint64_t seq) {
        change c;
        c.epoch = 4;
        c.seq = seq;
        c.op = change_op::put;
        c.key = "k" + std::to_string(seq);
        c.value = "v";
        return c;
    }
    // Broker `rank`'s heartbeat naming its replication session.
    void beat(std::uint32_t rank, steady_time t, std::uint64_t session) {
        heartbeat h;
        h.name = cluster.brokers[rank].name;
        h.rank = rank;
        h.state = broker_state::passive;
        h.repl_session = session;
        peers.record(h, t);
    }
    repl_hello hello(std::uint32_t rank, std::uint64_t session) const {
        repl_hello r;
        r.name = cluster.brokers[rank].name;
        r.rank = rank;
        r.session = session;
        return r;
    }

    test::temp_dir dir;
    cluster_config cluster;
    local_replica replica{dir.path(), fsync_mode::never, 1000};
    peer_view peers{cluster, 0};
    test::fake_sink out;
    replication_server server{replica, peers, out, cluster, cluster.brokers[0]};
};

}  // namespace

TEST_CASE("replication_server: a hello gets a snapshot, and the replica's ACK makes it count", "[replication_server]") {
    fixture f;
    const steady_time t0{};
    f.beat(1, t0, 11);
    f.server.on_hello("id-b", f.hello(1, 11), true, 3, t0);
    const auto ends = f.out.of<snapshot_end>();
    REQUIRE(ends.size() == 1);
    REQUIRE(ends[0].first == "id-b");
    REQUIRE(ends[0].second.request_id == 11);
    REQUIRE(ends[0].second.seq == 3);
    // Not synchronised yet: the ack rule does not wait for it (the server acknowledges on its own log).
    REQUIRE(f.server.synced_count(t0) == 0);
    REQUIRE(f.server.committable(3, t0) == 3);

    f.server.on_ack("id-b", repl_ack{3});
    REQUIRE(f.server.synced_count(t0) == 1);
    REQUIRE(f.server.committable(3, t0) == 3);
    REQUIRE(f.server.committable(2, t0) == 2);  // never ahead of the local disk

    // The live stream: the next change goes to the session, and its ACK moves the commit point.
    REQUIRE(f.replica.apply(fixture::change_at(4)));
    f.out.clear();
    f.server.replicate({fixture::change_at(4)}, 3);
    const auto batches = f.out.of<change_batch>();
    REQUIRE(batches.size() == 1);
    REQUIRE(batches[0].second.changes.at(0).seq == 4);
    REQUIRE(batches[0].second.commit_seq == 3);
    REQUIRE(f.server.committable(4, t0) == 3);
    f.server.on_ack("id-b", repl_ack{4});
    REQUIRE(f.server.committable(4, t0) == 4);

    // Silent for four expiries: the session goes, and acknowledgements stop waiting for it.
    f.server.tick(t0 + 1300ms);
    REQUIRE(f.server.session_of("B") == nullptr);
}

TEST_CASE("replication_server: refusals - not a peer, not serving, an ACK beyond what was sent, no session",
          "[replication_server]") {
    fixture f;
    const steady_time t0{};
    repl_hello stranger = f.hello(1, 5);
    stranger.name = "Z";
    f.server.on_hello("id-z", stranger, true, 3, t0);
    REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::refused);
    f.server.on_hello("id-a", f.hello(0, 5), true, 3, t0);  // myself
    REQUIRE(f.out.of<error_reply>().size() == 2);

    f.server.on_hello("id-b", f.hello(1, 6), false, 3, t0);
    REQUIRE(f.out.not_serving.size() == 1);

    f.out.clear();
    f.server.on_ack("id-nobody", repl_ack{1});
    REQUIRE(f.out.of<error_reply>().at(0).second.text.find("no replication session") != std::string::npos);

    f.beat(1, t0, 7);
    f.server.on_hello("id-b", f.hello(1, 7), true, 3, t0);
    f.out.clear();
    f.server.on_ack("id-b", repl_ack{9});  // only 3 were sent
    REQUIRE(f.server.bad_acks() == 1);
    REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::bad_request);
    REQUIRE(f.server.synced_count(t0) == 0);
}

TEST_CASE("replication_server: only a confirmed, synchronised replica of lower rank may ask for the role",
          "[replication_server]") {
    fixture f;
    const steady_time t0{};
    // B (rank 1) serves; A (rank 0) and C (rank 2) replicate from it.
    peer_view peers_of_b{f.cluster, 1};
    replication_server b{f.replica, peers_of_b, f.out, f.cluster, f.cluster.brokers[1]};
    for (std::uint32_t rank : {0u, 2u}) {
        heartbeat h;
        h.name = f.cluster.brokers[rank].name;
        h.rank = rank;
        h.state = broker_state::passive;
        h.repl_session = 30 + rank;
        peers_of_b.record(h, t0);
        b.on_hello("id-" + h.name, f.hello(rank, 30 + rank), true, 3, t0);
    }
    const handover_request from_a{"A", 0, 3};
    const handover_request from_c{"C", 2, 3};
    b.on_ack("id-C", repl_ack{3});
    REQUIRE_FALSE(b.on_handover_request("id-C", from_c));  // synchronised, but rank 2 does not outrank rank 1
    REQUIRE_FALSE(b.on_handover_request("id-A", from_a));  // not synchronised yet
    b.on_ack("id-A", repl_ack{3});
    REQUIRE(b.on_handover_request("id-A", from_a) == std::optional<std::string>("A"));

    f.out.clear();
    b.send_handover_go("A");
    const auto go = f.out.of<handover_go>();
    REQUIRE(go.size() == 1);
    REQUIRE(go[0].first == "id-A");
    REQUIRE(go[0].second.seq == 3);
    REQUIRE(go[0].second.epoch == 4);
    REQUIRE_FALSE(b.on_handover_request("id-unknown", from_a));  // no session: told to resync
    REQUIRE(f.out.of<error_reply>().size() == 1);
}

TEST_CASE("replication_server: the live stream gives every streaming session the whole batch, in order",
          "[replication_server]") {
    fixture f;
    const steady_time t0{};
    f.beat(1, t0, 11);
    f.beat(2, t0, 12);
    f.server.on_hello("id-b", f.hello(1, 11), true, 3, t0);
    f.server.on_hello("id-c", f.hello(2, 12), true, 3, t0);
    for (std::uint64_t s = 4; s <= 6; ++s) REQUIRE(f.replica.apply(fixture::change_at(s)));
    f.out.clear();
    // The last session is handed the batch itself, the others a copy: both must see the same changes.
    f.server.replicate({fixture::change_at(4), fixture::change_at(5), fixture::change_at(6)}, 3);
    const auto batches = f.out.of<change_batch>();
    REQUIRE(batches.size() == 2);
    for (const auto& [identity, b] : batches) {
        REQUIRE(b.changes.size() == 3);
        for (std::uint64_t i = 0; i < 3; ++i) CHECK(b.changes[i] == fixture::change_at(4 + i));
    }
    // Each session may now acknowledge up to seq 6, and no further.
    f.server.on_ack("id-b", repl_ack{6});
    f.server.on_ack("id-c", repl_ack{6});
    CHECK(f.server.bad_acks() == 0);
}
