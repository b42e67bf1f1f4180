// File: test_schedule.cpp
// The fault schedule is a pure function of its parameters: the same seed
// gives the same faults, every fault stays inside the run and heals before
// its end, faults never overlap, targets exist, and partitions split every
// host into two non-empty groups with a broker on each side.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <set>

#include "rng.hpp"
#include "schedule.hpp"

using namespace starbus::chaos;
using std::chrono::milliseconds;

namespace {

schedule_params params(std::uint64_t seed) {
    schedule_params p;
    p.seed = seed;
    p.duration = milliseconds(120000);
    p.brokers = 3;
    p.other_hosts = 6;
    return p;
}

}  // namespace

TEST_CASE("rng: the same seed gives the same numbers, and between() stays in range", "[schedule]") {
    rng a(42), b(42), c(43);
    bool differs = false;
    for (int i = 0; i < 1000; ++i) {
        const auto x = a.next();
        REQUIRE(x == b.next());
        differs |= x != c.next();
        const auto v = a.between(-3, 7);
        b.between(-3, 7);
        REQUIRE(v >= -3);
        REQUIRE(v <= 7);
    }
    CHECK(differs);
    CHECK(rng(5).between(9, 9) == 9);
    CHECK(rng(5).between(9, 2) == 9);
}

TEST_CASE("rng: SplitMix64 gives its published first outputs, so seeds mean the same everywhere", "[schedule]") {
    // Known values of SplitMix64 from seed 0.
    rng r(0);
    CHECK(r.next() == 0xe220a8397b1dcdafULL);
    CHECK(r.next() == 0x6e789e6aa1b965f4ULL);
}

TEST_CASE("schedule: a pure function of the seed", "[schedule]") {
    for (std::uint64_t seed : {1ULL, 2ULL, 77ULL, 123456789ULL}) {
        const auto a = make_schedule(params(seed));
        const auto b = make_schedule(params(seed));
        REQUIRE(a == b);
        REQUIRE(!a.empty());
    }
    CHECK(make_schedule(params(1)) != make_schedule(params(2)));
}

TEST_CASE("schedule: faults lie inside the run, in order, never overlapping", "[schedule]") {
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        const auto p = params(seed);
        const auto s = make_schedule(p);
        std::optional<milliseconds> previous_end;
        for (const auto& f : s) {
            REQUIRE(f.start >= p.quiet_start);
            REQUIRE(f.end <= p.duration - p.quiet_end);
            REQUIRE(f.end - f.start >= p.min_fault);
            REQUIRE(f.end - f.start <= p.max_fault);
            if (previous_end) REQUIRE(f.start >= *previous_end + p.min_gap);
            previous_end = f.end;
        }
    }
}

TEST_CASE("schedule: targets exist and partitions split every host in two, brokers on both sides", "[schedule]") {
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
        const auto p = params(seed);
        const std::size_t hosts = p.brokers + p.other_hosts;
        for (const auto& f : make_schedule(p)) {
            switch (f.kind) {
                case fault_kind::kill:
                case fault_kind::stop:
                case fault_kind::disk: REQUIRE(f.target < p.brokers); break;
                case fault_kind::netem:
                    REQUIRE(f.target < hosts);
                    REQUIRE(f.delay_ms >= 10);
                    REQUIRE(f.jitter_ms <= f.delay_ms);
                    REQUIRE(f.loss_pct >= 0);
                    REQUIRE(f.loss_pct <= 100);
                    break;
                case fault_kind::partition: {
                    REQUIRE(!f.side_a.empty());
                    REQUIRE(!f.side_b.empty());
                    std::set<std::size_t> all(f.side_a.begin(), f.side_a.end());
                    for (auto h : f.side_b) REQUIRE(all.insert(h).second);  // no host on both sides
                    REQUIRE(all.size() == hosts);
                    REQUIRE(*all.rbegin() == hosts - 1);
                    auto brokers_in = [&](const std::vector<std::size_t>& g) {
                        return std::count_if(g.begin(), g.end(), [&](std::size_t h) { return h < p.brokers; });
                    };
                    REQUIRE(brokers_in(f.side_a) >= 1);
                    REQUIRE(brokers_in(f.side_b) >= 1);
                    break;
                }
            }
        }
    }
}

TEST_CASE("schedule: only the enabled kinds, and every kind over a few seeds", "[schedule]") {
    auto p = params(9);
    p.kinds = {fault_kind::kill, fault_kind::disk};
    for (const auto& f : make_schedule(p)) REQUIRE((f.kind == fault_kind::kill || f.kind == fault_kind::disk));

    std::set<fault_kind> seen;
    for (std::uint64_t seed = 1; seed <= 5; ++seed)
        for (const auto& f : make_schedule(params(seed))) seen.insert(f.kind);
    CHECK(seen.size() == 5);

    p.kinds.clear();
    CHECK(make_schedule(p).empty());
}

TEST_CASE("schedule: a run too short for one fault has none, and the primary is the favourite target", "[schedule]") {
    auto p = params(3);
    p.duration = milliseconds(4000);
    CHECK(make_schedule(p).empty());

    std::size_t on_primary = 0, on_brokers = 0;
    for (std::uint64_t seed = 1; seed <= 100; ++seed)
        for (const auto& f : make_schedule(params(seed)))
            if (f.kind == fault_kind::kill || f.kind == fault_kind::stop || f.kind == fault_kind::disk) {
                ++on_brokers;
                on_primary += f.target == 0 ? 1 : 0;
            }
    CHECK(on_primary * 2 > on_brokers);  // about two thirds: half the draws, plus a third of the rest
}

TEST_CASE("schedule: a single broker is partitioned from some clients", "[schedule]") {
    auto p = params(4);
    p.brokers = 1;
    p.other_hosts = 3;
    p.kinds = {fault_kind::partition};
    const auto s = make_schedule(p);
    REQUIRE(!s.empty());
    for (const auto& f : s) {
        REQUIRE(std::find(f.side_a.begin(), f.side_a.end(), 0u) != f.side_a.end());
        REQUIRE(!f.side_b.empty());
    }
}

TEST_CASE("schedule: fault kinds parse from the command line's list", "[schedule]") {
    std::string bad;
    auto k = parse_fault_kinds("kill,stop,,partition,kill", bad);
    REQUIRE(k);
    CHECK(*k == std::vector<fault_kind>{fault_kind::kill, fault_kind::stop, fault_kind::partition});
    CHECK(!parse_fault_kinds("kill,flood", bad));
    CHECK(bad == "flood");
    CHECK(describe(fault{fault_kind::partition, milliseconds(1), milliseconds(2), 0, {0, 3}, {1, 2}},
                   {"A", "B", "C", "c1"}) == "partition {A c1} | {B C}");
}

TEST_CASE("schedule: seed 1 of the short run is pinned, so old reports still reproduce", "[schedule]") {
    // The CTest short run: 75 s, 3 brokers, 4 workers and 2 subscribers, every kind.
    schedule_params p;
    p.seed = 1;
    p.duration = milliseconds(75000);
    p.brokers = 3;
    p.other_hosts = 6;
    const auto s = make_schedule(p);
    REQUIRE(s.size() == 9);
    CHECK(s[0] == fault{fault_kind::kill, milliseconds(3000), milliseconds(5085), 2, {}, {}, 0, 0, 0});
    CHECK(s[2].kind == fault_kind::partition);
    CHECK(s[2].side_a == std::vector<std::size_t>{2, 3, 5, 6});
    CHECK(s[2].side_b == std::vector<std::size_t>{0, 1, 4, 7, 8});
    CHECK(describe(s[1], {"A", "B", "C"}) == "netem A (delay 183 ms +/- 3 ms, loss 0 %)");
}
