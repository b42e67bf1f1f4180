// File: test_candidate_order.cpp
// The two orders that decide who may serve (candidate_order.hpp): a serving
// claim (epoch, then the lower rank) and a cold-start position (last change,
// then the lower rank); and that the peer view picks by them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "candidate_order.hpp"
#include "peer_view.hpp"

using namespace starbus;
using namespace std::chrono_literals;

TEST_CASE("candidate order: the higher epoch wins a serving claim, whatever the ranks", "[candidate_order]") {
    CHECK(beats(serving_claim{5, 2}, serving_claim{4, 0}));
    CHECK_FALSE(beats(serving_claim{4, 0}, serving_claim{5, 2}));
}

TEST_CASE("candidate order: among equal epochs the lower rank wins a serving claim", "[candidate_order]") {
    CHECK(beats(serving_claim{7, 0}, serving_claim{7, 1}));
    CHECK_FALSE(beats(serving_claim{7, 1}, serving_claim{7, 0}));
    // Nobody beats itself: a claim equal to mine is no reason to step down.
    CHECK_FALSE(beats(serving_claim{7, 1}, serving_claim{7, 1}));
}

TEST_CASE("candidate order: serving claims sort into one strict order", "[candidate_order]") {
    std::vector<serving_claim> claims{{3, 2}, {4, 1}, {3, 0}, {4, 2}, {1, 0}};
    std::sort(claims.begin(), claims.end());
    // Weakest first: the last one is the server every broker follows.
    const std::vector<std::pair<std::uint64_t, std::uint32_t>> expected{{1, 0}, {3, 2}, {3, 0}, {4, 2}, {4, 1}};
    REQUIRE(claims.size() == expected.size());
    for (std::size_t i = 0; i < claims.size(); ++i) {
        CHECK(claims[i].epoch == expected[i].first);
        CHECK(claims[i].rank == expected[i].second);
    }
}

TEST_CASE("candidate order: a cold start prefers the newer last change, then the lower rank", "[candidate_order]") {
    // The epoch of the last change counts before its seq: a later epoch holds what an earlier one had.
    CHECK(beats(held_position{{3, 10}, 2}, held_position{{2, 900}, 0}));
    CHECK(beats(held_position{{3, 11}, 2}, held_position{{3, 10}, 0}));
    CHECK(beats(held_position{{3, 10}, 0}, held_position{{3, 10}, 1}));
    CHECK_FALSE(beats(held_position{{3, 10}, 1}, held_position{{3, 10}, 1}));
}

TEST_CASE("candidate order: a heartbeat's claim and position are read from its fields", "[candidate_order]") {
    heartbeat hb;
    hb.rank = 2;
    hb.epoch = 9;
    hb.last_epoch = 8;
    hb.seq = 77;
    CHECK(claim_of(hb).epoch == 9);
    CHECK(claim_of(hb).rank == 2);
    CHECK(held_by(hb).last.epoch == 8);  // the position is the last change's, not the epoch served in
    CHECK(held_by(hb).last.seq == 77);
    CHECK(held_by(hb).rank == 2);
}

TEST_CASE("candidate order: the peer view's best server is the greatest claim", "[candidate_order]") {
    cluster_config c = builtin_cluster(4);
    c.heartbeat = 100ms;
    c.expiry = 300ms;
    peer_view v(c, 3);
    auto serving = [&](std::uint32_t rank, std::uint64_t epoch) {
        heartbeat h;
        h.name = c.brokers[rank].name;
        h.rank = rank;
        h.state = broker_state::active;
        h.epoch = epoch;
        return h;
    };
    const steady_time t0{};
    REQUIRE(v.record(serving(2, 6), t0));
    REQUIRE(v.record(serving(1, 6), t0));
    REQUIRE(v.record(serving(0, 5), t0));
    const heartbeat* best = v.best_server(t0);
    REQUIRE(best);
    CHECK(best->rank == 1);  // epoch 6 beats 5; among the two of epoch 6, rank 1 beats rank 2
}
