// File: test_kv_state.cpp
// The replicated key/value state: contiguous apply, puts and erases, snapshot
// installation, the bounded memory of applied requests used for dedupe, and the
// bounded list of epochs, at its largest.
#include <catch2/catch.hpp>

#include "change_builders.hpp"
#include "largest_values.hpp"

#include <starbus/state/kv_state.hpp>

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

TEST_CASE("kv_state: the epochs of a history place positions in it and find the fork with a parted one") {
    // The author of epoch 256 wrote seqs 1..7; the author of 768 took over at 8 on our side of a partition,
    // the author of 513 at 6 on theirs. An epoch has one author: same epoch, same changes.
    kv_state ours, theirs;
    for (std::uint64_t s = 1; s <= 20; ++s) REQUIRE(ours.apply(put(s <= 7 ? 256 : 768, s, "k", "v")));
    for (std::uint64_t s = 1; s <= 12; ++s) REQUIRE(theirs.apply(put(s <= 5 ? 256 : 513, s, "k", "v")));
    const auto spans = theirs.epochs();
    REQUIRE(spans.size() == 2);
    CHECK(spans[0] == starbus::epoch_span{256, 1, 5});
    CHECK(spans[1] == starbus::epoch_span{513, 6, 12});
    CHECK(ours.last_seq_of(256) == 7u);
    CHECK(ours.last_seq_of(768) == 20u);
    CHECK_FALSE(ours.last_seq_of(513));
    CHECK(ours.holds({256, 3}));
    CHECK(ours.holds({768, 20}));
    CHECK_FALSE(ours.holds({256, 9}));   // seq 9 is epoch 768's here
    CHECK_FALSE(ours.holds({513, 6}));   // their epoch
    CHECK(ours.holds({0, 0}));
    CHECK(ours.fork_with(spans) == 5u);  // they part after seq 5
    // A history simply behind ours: no fork before its last change.
    kv_state behind;
    for (std::uint64_t s = 1; s <= 9; ++s) REQUIRE(behind.apply(put(s <= 7 ? 256 : 768, s, "k", "v")));
    CHECK(ours.fork_with(behind.epochs()) == 9u);
    kv_state stranger;
    REQUIRE(stranger.apply(put(1025, 1, "x", "y")));
    CHECK_FALSE(ours.fork_with(stranger.epochs()));
    // A snapshot carries the epochs: the installed history places positions as the sender did.
    kv_state copy;
    copy.install_snapshot(ours.snapshot_entries(), ours.last(), ours.requests(), 0, ours.epochs());
    CHECK(copy.epochs() == ours.epochs());
    CHECK(copy.holds({256, 3}));
    CHECK_FALSE(copy.holds({513, 6}));
}

TEST_CASE("kv_state: the bus log keeps the newest messages within count, bytes and age, and says what it dropped") {
    kv_state s;
    s.set_bus_retention({3, 0, 1000});
    const auto publish = [](std::uint64_t seq, std::uint64_t time_ms) {
        change c = put(256, seq, "topic", "payload");
        c.op = change_op::publish;
        c.time_ms = time_ms;
        return c;
    };
    REQUIRE(s.apply(publish(1, 100)));
    REQUIRE(s.apply(put(256, 2, "a key", "not a message")));
    REQUIRE(s.apply(publish(3, 200)));
    REQUIRE(s.apply(publish(4, 300)));
    CHECK(s.bus_log().size() == 3);
    CHECK(s.bus_dropped_through() == 0);
    REQUIRE(s.apply(publish(5, 400)));  // a fourth: the oldest goes
    CHECK(s.bus_log().front().seq == 3);
    CHECK(s.bus_dropped_through() == 1);
    REQUIRE(s.apply(publish(6, 1350)));  // more than a second after 3 and 4: they go too
    CHECK(s.bus_log().size() == 2);
    CHECK(s.bus_dropped_through() == 4);
    CHECK(s.entries().size() == 1);  // messages are not keys
    kv_state client;                 // a client's mirror keeps none
    REQUIRE(client.apply(publish(1, 100)));
    CHECK(client.bus_log().empty());
}

// Every takeover adds an epoch span: a long-lived cluster holds limits::max_epoch_spans of them (and the
// snapshot, SNAPSHOT-END and REPL-HELLO carry them all), never more, the oldest forgotten first.
TEST_CASE("kv_state: past max_epoch_spans takeovers, the newest spans are kept and a snapshot carries them all") {
    const auto h = starbus::test::largest_history();
    const auto spans = h.state.epochs();
    REQUIRE(spans.size() == limits::max_epoch_spans);
    const std::size_t takeovers = limits::max_epoch_spans + 76;  // largest_history's default
    CHECK(spans.front().epoch == starbus::test::takeover_epoch(takeovers - limits::max_epoch_spans + 1));
    CHECK(spans.back().epoch == starbus::test::takeover_epoch(takeovers));
    CHECK(spans.back().last_seq == h.state.last().seq);
    CHECK(h.state.requests().size() == limits::remembered_requests);
    kv_state copy;
    copy.install_snapshot(h.state.snapshot_entries(), h.state.last(), h.state.requests(), 0, spans);
    CHECK(copy.epochs() == spans);
    CHECK(copy.requests() == h.state.requests());
    CHECK(copy.find(starbus::test::largest_key())->value == starbus::test::largest_value());
    CHECK(copy.files() == h.state.files());
}
