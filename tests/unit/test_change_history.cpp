// File: test_change_history.cpp
// The in-memory window of recent changes: which resync positions it can serve
// with a delta (protocol.md "Positions and history") and which need a snapshot.
#include <catch2/catch.hpp>

#include <starbus/broker/change_history.hpp>

using namespace starbus;

namespace {

change make(std::uint64_t epoch, std::uint64_t seq) {
    return change{.epoch = epoch, .seq = seq, .key = std::to_string(seq), .value = std::string(8, 'v')};
}

std::vector<std::uint64_t> seqs(const std::vector<change>& changes) {
    std::vector<std::uint64_t> out;
    for (const auto& c : changes) out.push_back(c.seq);
    return out;
}

}  // namespace

TEST_CASE("history: an empty history serves only its base") {
    change_history h(10);
    h.reset({2, 50});
    CHECK(h.base() == position{2, 50});
    CHECK(h.last() == position{2, 50});
    CHECK(h.size() == 0);

    auto d = h.after({2, 50});
    REQUIRE(d);
    CHECK(d->empty());
    CHECK_FALSE(h.after({1, 50}));  // same seq, another epoch: diverged
    CHECK_FALSE(h.after({2, 49}));  // too old
    CHECK_FALSE(h.after({2, 51}));  // ahead
}

TEST_CASE("history: after() from base, middle and last") {
    change_history h(10);
    h.reset({1, 0});
    for (std::uint64_t s = 1; s <= 3; ++s) h.append(make(1, s));
    for (std::uint64_t s = 4; s <= 6; ++s) h.append(make(2, s));  // a takeover at seq 4
    CHECK(h.last() == position{2, 6});
    CHECK(h.size() == 6);

    SECTION("from base: everything") {
        auto d = h.after({1, 0});
        REQUIRE(d);
        CHECK(seqs(*d) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
    }
    SECTION("from the middle, with the epoch held there") {
        auto d = h.after({1, 3});
        REQUIRE(d);
        CHECK(seqs(*d) == std::vector<std::uint64_t>{4, 5, 6});
        CHECK(d->front() == make(2, 4));
        d = h.after({2, 4});
        REQUIRE(d);
        CHECK(seqs(*d) == std::vector<std::uint64_t>{5, 6});
    }
    SECTION("from last: up to date, nothing to send") {
        auto d = h.after({2, 6});
        REQUIRE(d);
        CHECK(d->empty());
    }
    SECTION("another epoch at that seq: the asker diverged") {
        CHECK_FALSE(h.after({1, 4}));  // the old server's unacknowledged change 4
        CHECK_FALSE(h.after({3, 2}));
        CHECK_FALSE(h.after({2, 0}));  // the base's seq with another epoch
    }
    SECTION("ahead of last") {
        CHECK_FALSE(h.after({2, 7}));
        CHECK_FALSE(h.after({1, 100}));
    }
}

TEST_CASE("history: past its capacity the oldest changes are dropped and base moves up") {
    change_history h(4);
    h.reset({});
    for (std::uint64_t s = 1; s <= 10; ++s) h.append(make(1, s));
    CHECK(h.size() == 4);
    CHECK(h.base() == position{1, 6});
    CHECK(h.last() == position{1, 10});

    CHECK_FALSE(h.after({0, 0}));  // a fresh replica now needs a snapshot
    CHECK_FALSE(h.after({1, 5}));  // dropped
    auto d = h.after({1, 6});      // exactly the new base
    REQUIRE(d);
    CHECK(seqs(*d) == std::vector<std::uint64_t>{7, 8, 9, 10});
    d = h.after({1, 9});
    REQUIRE(d);
    CHECK(seqs(*d) == std::vector<std::uint64_t>{10});
}

TEST_CASE("history: reset forgets everything and starts after the new base") {
    change_history h(8);
    h.reset({});
    for (std::uint64_t s = 1; s <= 5; ++s) h.append(make(1, s));
    h.reset({3, 90});  // a full snapshot was installed
    CHECK(h.size() == 0);
    CHECK_FALSE(h.after({1, 5}));
    h.append(make(3, 91));
    auto d = h.after({3, 90});
    REQUIRE(d);
    CHECK(seqs(*d) == std::vector<std::uint64_t>{91});
}

TEST_CASE("history: a zero capacity keeps nothing") {
    change_history h(0);
    h.reset({});
    h.append(make(1, 1));
    h.append(make(1, 2));
    CHECK(h.size() == 0);
    CHECK(h.base() == position{1, 2});
    CHECK(h.last() == position{1, 2});
    auto d = h.after({1, 2});
    REQUIRE(d);
    CHECK(d->empty());
    CHECK_FALSE(h.after({1, 1}));
}

TEST_CASE("history: tail_after gives the held changes past a seq, clamped to what is held", "[history]") {
    starbus::change_history h(4);
    h.reset({1, 10});
    for (std::uint64_t s = 11; s <= 16; ++s) {
        starbus::change c;
        c.epoch = 1;
        c.seq = s;
        h.append(c);
    }
    // Capacity 4: holds 13..16.
    REQUIRE(h.tail_after(16).empty());
    REQUIRE(h.tail_after(14).size() == 2);
    REQUIRE(h.tail_after(14).front().seq == 15);
    REQUIRE(h.tail_after(3).size() == 4);  // before base: everything held
    REQUIRE(h.tail_after(3).front().seq == 13);
}
