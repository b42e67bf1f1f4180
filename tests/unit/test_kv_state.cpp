// File: test_kv_state.cpp
// The replicated key/value state: contiguous apply, puts and erases, snapshot
// installation, and the bounded memory of applied requests used for dedupe.
#include <catch2/catch.hpp>

#include "change_builders.hpp"

#include <starbus/common/kv_state.hpp>

using namespace starbus;

namespace {

using starbus::test::erase;
using starbus::test::put;

}  // namespace

TEST_CASE("kv_state: apply accepts only the next seq and changes nothing on a gap") {
    kv_state s;
    REQUIRE(s.apply(put(1, 1, "a", "1")));
    REQUIRE(s.last() == position{1, 1});

    CHECK_FALSE(s.apply(put(1, 3, "b", "2")));  // gap: seq 2 missing
    CHECK_FALSE(s.apply(put(1, 1, "b", "2")));  // replay of an applied seq
    CHECK(s.last() == position{1, 1});
    CHECK(s.entries().size() == 1);
    CHECK(s.find("b") == nullptr);

    // A new epoch continues the same seq line.
    REQUIRE(s.apply(put(2, 2, "b", "2")));
    CHECK(s.last() == position{2, 2});
}

TEST_CASE("kv_state: put overwrites and erase removes") {
    kv_state s;
    REQUIRE(s.apply(put(1, 1, "k", "v1")));
    REQUIRE(s.apply(put(1, 2, "k", "v2")));
    REQUIRE(s.find("k") != nullptr);
    CHECK(s.find("k")->value == "v2");
    CHECK(s.find("k")->seq == 2);  // the entry is the put that wrote it

    REQUIRE(s.apply(erase(1, 3, "k")));
    CHECK(s.find("k") == nullptr);
    CHECK(s.entries().empty());

    // Erasing a missing key is still a change: the position moves on.
    REQUIRE(s.apply(erase(1, 4, "never")));
    CHECK(s.last() == position{1, 4});
}

TEST_CASE("kv_state: install_snapshot replaces everything") {
    kv_state s;
    REQUIRE(s.apply(put(1, 1, "old", "x", 7, 1)));

    std::vector<change> entries{put(3, 40, "a", "A"), put(3, 41, "b", "B")};
    std::vector<request_record> requests{{9, 1, 3, 41}};
    s.install_snapshot(entries, {3, 41}, requests);

    CHECK(s.last() == position{3, 41});
    CHECK(s.entries().size() == 2);
    CHECK(s.find("old") == nullptr);
    CHECK(s.find("a")->value == "A");
    CHECK_FALSE(s.find_request(7, 1));
    REQUIRE(s.find_request(9, 1));
    CHECK(s.find_request(9, 1)->seq == 41);
    CHECK(s.requests() == requests);

    // It continues from the snapshot's position.
    CHECK_FALSE(s.apply(put(3, 2, "c", "C")));
    CHECK(s.apply(put(3, 42, "c", "C")));
}

TEST_CASE("kv_state: applied requests are remembered for dedupe") {
    kv_state s;
    REQUIRE(s.apply(put(1, 1, "a", "1", 5, 100)));
    REQUIRE(s.apply(put(1, 2, "b", "2")));  // internal change: client 0, not remembered
    auto r = s.find_request(5, 100);
    REQUIRE(r);
    CHECK(*r == request_record{5, 100, 1, 1});
    CHECK_FALSE(s.find_request(5, 101));
    CHECK_FALSE(s.find_request(6, 100));
    CHECK(s.requests().size() == 1);
}

TEST_CASE("kv_state: the request memory is bounded and forgets the oldest first") {
    kv_state s;
    const std::size_t n = limits::remembered_requests + 10;
    for (std::size_t i = 1; i <= n; ++i) REQUIRE(s.apply(put(1, i, "k", "v", 1, i)));

    const auto requests = s.requests();
    REQUIRE(requests.size() == limits::remembered_requests);
    CHECK(requests.front().request_id == 11);  // 1..10 forgotten
    CHECK(requests.back().request_id == n);
    for (std::uint64_t i = 1; i <= 10; ++i) CHECK_FALSE(s.find_request(1, i));
    CHECK(s.find_request(1, 11));
    CHECK(s.find_request(1, n));
}

TEST_CASE("kv_state: file changes keep the manifest, in the same sequence as keys") {
    kv_state s;
    const file_entry f1{"docs/a.txt", 5, std::string(64, 'a'), 0, 0, std::string(32, 'b')};
    change c1 = file_put_change(f1);
    c1.epoch = 1;
    c1.seq = 1;
    REQUIRE(s.apply(c1));
    REQUIRE(s.apply(put(1, 2, "k", "v")));
    REQUIRE(s.files().size() == 1);
    const file_entry* got = s.files().find("docs/a.txt");
    REQUIRE(got);
    CHECK(got->pos() == position{1, 1});  // the change's position becomes the version's
    CHECK(got->hash == f1.hash);
    CHECK(s.entries().size() == 1);  // keys and files are separate namespaces
    CHECK(s.find("docs/a.txt") == nullptr);

    // A snapshot carries both, and installs both.
    const auto snap = s.snapshot_entries();
    REQUIRE(snap.size() == 2);
    CHECK(snap[0].op == change_op::put);
    CHECK(snap[1].op == change_op::file_put);
    kv_state t;
    t.install_snapshot(snap, s.last(), s.requests());
    CHECK(t.files() == s.files());
    CHECK(t.entries().size() == 1);

    change rm;
    rm.epoch = 1;
    rm.seq = 3;
    rm.op = change_op::file_erase;
    rm.cls = change_class::config;
    rm.key = "docs/a.txt";
    REQUIRE(s.apply(rm));
    CHECK(s.files().empty());
    CHECK(s.last().seq == 3);
}
