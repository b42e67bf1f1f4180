// File: test_client_walk.cpp
// The client's broker walk: rank order, hints, full passes and jittered backoff
// (docs/protocol.md "Client behaviour").
#include <catch2/catch.hpp>

#include <set>

#include "broker_walk.hpp"

using starbus::client_detail::backoff;
using starbus::client_detail::broker_walk;
using std::chrono::milliseconds;

TEST_CASE("client: walk starts at the primary and moves in rank order, wrapping") {
    // "open a new one to the next broker in rank order (wrapping around)"
    broker_walk w(3, 1);
    CHECK(w.current() == 0);
    CHECK(w.advance().broker == 1);
    CHECK(w.advance().broker == 2);
    auto s = w.advance();
    CHECK(s.broker == 0);
    CHECK(w.current() == 0);
}

TEST_CASE("client: walk pauses only after a full pass with nobody serving") {
    // "After a full pass over the cluster with nobody serving, the client SHALL sleep with jitter"
    broker_walk w(3, 7);
    CHECK(w.advance().pause == milliseconds(0));  // B
    CHECK(w.advance().pause == milliseconds(0));  // C: A, B, C tried
    auto s = w.advance();                         // back to A: a new pass
    CHECK(s.broker == 0);
    CHECK(s.pause > milliseconds(0));
    CHECK(w.advance().pause == milliseconds(0));
    CHECK(w.advance().pause == milliseconds(0));
    CHECK(w.advance().pause > milliseconds(0));
}

TEST_CASE("client: a single-broker cluster pauses between every attempt") {
    broker_walk w(1, 3);
    for (int i = 0; i < 5; ++i) {
        auto s = w.advance();
        CHECK(s.broker == 0);
        CHECK(s.pause > milliseconds(0));
    }
}

TEST_CASE("client: after the server fails, the pass covers every other broker and then the server") {
    broker_walk w(3, 5);
    CHECK(w.advance().broker == 1);
    w.serving();  // B serves
    auto c = w.advance();
    CHECK(c.broker == 2);
    CHECK(c.pause == milliseconds(0));
    auto a = w.advance();
    CHECK(a.broker == 0);
    CHECK(a.pause == milliseconds(0));
    auto b = w.advance();
    CHECK(b.broker == 1);
    CHECK(b.pause == milliseconds(0));  // B itself is the third try of the pass
    CHECK(w.advance().pause > milliseconds(0));
}

TEST_CASE("client: a hint goes straight to the named broker") {
    // "ERROR NOT_SERVING with server set: the client SHALL go straight to that broker"
    broker_walk w(4, 9);
    auto s = w.redirect(3);
    CHECK(s.broker == 3);
    CHECK(s.pause == milliseconds(0));
    CHECK(w.current() == 3);
}

TEST_CASE("client: a hint naming the current broker, or out of range, means advance") {
    broker_walk w(3, 9);
    CHECK(w.redirect(0).broker == 1);
    CHECK(w.redirect(17).broker == 2);
}

TEST_CASE("client: a hint naming a broker silent in this pass is ignored until the next pass") {
    broker_walk w(3, 11);
    w.mark_silent();  // A did not answer
    CHECK(w.silent_in_pass(0));
    CHECK(w.advance().broker == 1);
    // B still believes A serves: do not wait for A again.
    CHECK(w.redirect(0).broker == 2);
    w.serving();
    CHECK_FALSE(w.silent_in_pass(0));
    CHECK(w.redirect(0).broker == 0);
}

TEST_CASE("client: hints count towards the pass, so a loop of stale hints still pauses") {
    broker_walk w(2, 13);
    auto s1 = w.redirect(1);  // A says B
    CHECK(s1.pause == milliseconds(0));
    auto s2 = w.redirect(0);  // B says A: both tried
    CHECK(s2.broker == 0);
    CHECK(s2.pause > milliseconds(0));
}

TEST_CASE("client: backoff grows from about 20 ms to about 200 ms, with jitter") {
    backoff b(42);
    std::vector<milliseconds> bases;
    for (int i = 0; i < 8; ++i) {
        const auto base = b.base();
        bases.push_back(base);
        const auto p = b.next();
        // jitter 0.5: within [base/2, base*3/2]
        CHECK(p.count() >= base.count() / 2);
        CHECK(p.count() <= base.count() * 3 / 2);
    }
    CHECK(bases.front() == milliseconds(20));
    CHECK(bases[1] == milliseconds(40));
    CHECK(bases.back() == milliseconds(200));
    b.reset();
    CHECK(b.base() == milliseconds(20));
}

TEST_CASE("client: backoff jitter spreads clients that start together") {
    std::set<long> first_pauses;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) first_pauses.insert(backoff(seed).next().count());
    CHECK(first_pauses.size() > 3);
}

TEST_CASE("client: retry_later pauses are short, jittered and do not grow") {
    // "ERROR RETRY_LATER: the client SHALL pause briefly, with jitter, and retry on the same broker"
    backoff b(5);
    std::set<long> seen;
    for (int i = 0; i < 50; ++i) {
        const auto p = b.retry_later();
        CHECK(p >= milliseconds(10));
        CHECK(p <= milliseconds(40));
        seen.insert(p.count());
    }
    CHECK(seen.size() > 3);
    CHECK(b.base() == milliseconds(20));
}
