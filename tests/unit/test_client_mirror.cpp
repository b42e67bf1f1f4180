// File: test_client_mirror.cpp
// A client's mirror of the state: full snapshots, deltas, published "K"
// batches in seq order, gaps (docs/protocol.md "SNAPSHOT", "CHANGES").
#include <catch2/catch.hpp>

#include "state_mirror.hpp"

using namespace starbus;
using starbus::client_detail::state_mirror;
using outcome = state_mirror::outcome;

namespace {

change put(std::uint64_t epoch, std::uint64_t seq, std::string key, std::string value) {
    change c;
    c.epoch = epoch;
    c.seq = seq;
    c.key = std::move(key);
    c.value = std::move(value);
    return c;
}

change_batch batch(std::vector<change> changes) {
    change_batch b;
    b.changes = std::move(changes);
    return b;
}

// A mirror holding a=1 (1:1), b=2 (1:2) from a full snapshot.
state_mirror synced_mirror() {
    state_mirror m;
    auto req = m.start_sync(10, true);
    REQUIRE(req.from_seq == 0);
    m.on_part(snapshot_part{10, {put(1, 1, "a", "1"), put(1, 2, "b", "2")}});
    REQUIRE(m.on_end(snapshot_end{.request_id = 10, .epoch = 1, .seq = 2, .is_delta = false}) == outcome::completed);
    return m;
}

}  // namespace

TEST_CASE("client: mirror installs a full snapshot at snapshot_end") {
    state_mirror m;
    CHECK(m.sync_wanted());
    auto req = m.start_sync(7, true);
    CHECK(req.request_id == 7);
    CHECK(req.require_serving);
    CHECK(m.on_part(snapshot_part{7, {put(1, 1, "a", "1")}}) == outcome::in_progress);
    CHECK(m.on_part(snapshot_part{99, {put(1, 2, "x", "stale")}}) == outcome::ignored);  // another request
    CHECK(m.on_part(snapshot_part{7, {put(1, 3, "c", "3")}}) == outcome::in_progress);
    CHECK(m.on_end(snapshot_end{.request_id = 7, .epoch = 1, .seq = 3, .is_delta = false}) == outcome::completed);
    CHECK(m.synchronised());
    CHECK(m.last_sync_full());
    CHECK(m.last() == position{1, 3});
    CHECK(m.state().find("a"));
    CHECK(m.state().find("c"));
    CHECK_FALSE(m.state().find("x"));
}

TEST_CASE("client: mirror resyncs from its own position and applies a delta") {
    // "SNAPSHOT with from = its own position and require_serving set (a delta or a full snapshot)"
    state_mirror m = synced_mirror();
    m.new_server();
    CHECK(m.sync_wanted());
    auto req = m.start_sync(11, true);
    CHECK(req.from_epoch == 1);
    CHECK(req.from_seq == 2);
    CHECK(m.on_delta(batch({put(1, 2, "b", "2"), put(2, 3, "c", "3")})) == outcome::in_progress);  // 2 is held: skipped
    CHECK(m.on_end(snapshot_end{.request_id = 11, .epoch = 2, .seq = 3, .is_delta = true}) == outcome::completed);
    CHECK_FALSE(m.last_sync_full());
    CHECK(m.last() == position{2, 3});
    CHECK(m.state().entries().size() == 3);
}

TEST_CASE("client: a delta that does not reach snapshot_end's seq is discarded and asked again from nothing") {
    // "A receiver of a delta whose last seq after applying it differs from seq SHALL discard the answer and ask again."
    state_mirror m = synced_mirror();
    m.new_server();
    (void)m.start_sync(12, true);
    m.on_delta(batch({put(2, 4, "d", "4")}));  // seq 3 missing
    CHECK(m.on_end(snapshot_end{.request_id = 12, .epoch = 2, .seq = 4, .is_delta = true}) == outcome::gap);
    CHECK(m.sync_wanted());
    auto again = m.start_sync(13, true);
    CHECK(again.from_seq == 0);
    CHECK(m.state().entries().empty());
}

TEST_CASE("client: published batches apply in seq order, skipping what is held") {
    // "apply K CHANGES in seq order, skipping what it holds"
    state_mirror m = synced_mirror();
    CHECK(m.on_published(batch({put(1, 2, "b", "2"), put(1, 3, "c", "3")})) == outcome::applied);
    CHECK(m.last().seq == 3);
    CHECK(m.on_published(batch({put(1, 3, "c", "3")})) == outcome::applied);  // duplicate: skipped
    CHECK(m.last().seq == 3);
    change erase = put(1, 4, "a", "");
    erase.op = change_op::erase;
    CHECK(m.on_published(batch({erase})) == outcome::applied);
    CHECK_FALSE(m.state().find("a"));
}

TEST_CASE("client: a published batch beyond last+1 is a gap and asks for a sync") {
    // "sending SNAPSHOT again on a gap"
    state_mirror m = synced_mirror();
    CHECK(m.on_published(batch({put(1, 5, "e", "5")})) == outcome::gap);
    CHECK(m.sync_wanted());
    CHECK_FALSE(m.synchronised());
    CHECK(m.on_published(batch({put(1, 6, "f", "6")})) == outcome::held);  // held until the sync
    auto req = m.start_sync(20, true);
    CHECK(req.from_seq == 2);
    m.on_delta(batch({put(1, 3, "c", "3"), put(1, 4, "d", "4"), put(1, 5, "e", "5")}));
    CHECK(m.on_end(snapshot_end{.request_id = 20, .epoch = 1, .seq = 5, .is_delta = true}) == outcome::completed);
    CHECK(m.last().seq == 6);  // the held batch followed
}

TEST_CASE("client: batches published during a sync are applied after it") {
    state_mirror m;
    (void)m.start_sync(1, true);
    CHECK(m.on_published(batch({put(1, 3, "c", "3")})) == outcome::held);
    CHECK(m.on_published(batch({put(1, 2, "b", "2")})) == outcome::held);  // covered by the snapshot
    m.on_part(snapshot_part{1, {put(1, 1, "a", "1"), put(1, 2, "b", "2")}});
    CHECK(m.on_end(snapshot_end{.request_id = 1, .epoch = 1, .seq = 2, .is_delta = false}) == outcome::completed);
    CHECK(m.last().seq == 3);
    CHECK(m.state().entries().size() == 3);
}

TEST_CASE("client: a new server drops batches held from the old one") {
    // The old server's unacknowledged tail must not be applied on top of the new server's history.
    state_mirror m = synced_mirror();
    m.want_sync();
    CHECK(m.on_published(batch({put(1, 3, "y", "old"), put(1, 4, "z", "old tail")})) == outcome::held);
    m.new_server();
    (void)m.start_sync(5, true);
    m.on_delta(batch({put(2, 3, "c", "3")}));
    CHECK(m.on_end(snapshot_end{.request_id = 5, .epoch = 2, .seq = 3, .is_delta = true}) == outcome::completed);
    CHECK(m.last() == position{2, 3});
    CHECK_FALSE(m.state().find("z"));
    CHECK_FALSE(m.state().find("y"));
}

TEST_CASE("client: an abandoned sync ignores its late replies and is wanted again") {
    state_mirror m;
    (void)m.start_sync(1, true);
    m.abandon_sync();
    CHECK(m.sync_wanted());
    CHECK(m.on_end(snapshot_end{.request_id = 1, .epoch = 1, .seq = 1, .is_delta = false}) == outcome::ignored);
    CHECK(m.on_delta(batch({put(1, 1, "a", "1")})) == outcome::ignored);
}

TEST_CASE("client: staying behind the server's committed seq for a whole report asks for a sync") {
    state_mirror m = synced_mirror();
    CHECK_FALSE(m.note_server_seq(2));  // level
    CHECK_FALSE(m.note_server_seq(4));  // behind: the K frames may still be on their way
    m.on_published(batch({put(1, 3, "c", "3"), put(1, 4, "d", "4")}));
    CHECK_FALSE(m.note_server_seq(5));  // caught up with 4, behind 5 now
    CHECK(m.note_server_seq(5));        // still behind 5 a report later: lost
    CHECK(m.sync_wanted());
}
