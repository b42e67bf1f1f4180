// File: test_write_path.cpp
// The write path without sockets: what begin() lets through and in which
// order it refuses, that a change is acknowledged only once the commit point
// passes it (one ACK per client, with the position), that retries are
// answered and not applied twice, and what a new server inherits.
#include <catch2/catch.hpp>

#include <starbus/wire/request_changes.hpp>

#include "fake_sink.hpp"
#include "testutil.hpp"
#include "write_path.hpp"

using namespace starbus;

namespace {

struct fixture {
    explicit fixture(std::uint32_t rank = 0, std::size_t brokers = 3)
        : cluster(builtin_cluster(brokers)), me(&cluster.brokers[rank]) {
        replica.set_epoch(7);
    }
    test::temp_dir dir;
    cluster_config cluster;
    const broker_info* me = nullptr;
    local_replica replica{dir.path(), fsync_mode::never, 1000};
    test::fake_sink out;
    write_path writes{replica, out, cluster, *me};
};

set_request set_of(std::uint64_t client, std::uint64_t request, std::string key,
                   change_class cls = change_class::operational) {
    set_request r;
    r.client_id = client;
    r.request_id = request;
    r.key = std::move(key);
    r.value = "v";
    r.cls = cls;
    return r;
}

bool write(fixture& f, const std::string& identity, const set_request& r, bool active = true, std::size_t synced = 1) {
    if (!f.writes.begin(identity, r.client_id, r.request_id, r.cls, active, synced, "configuration changes"))
        return false;
    return f.writes.commit(change_for(r), identity, r.request_id);
}

}  // namespace

TEST_CASE("write_path: a change is acknowledged once the commit point passes it, one ACK per client",
          "[write_path]") {
    fixture f;
    REQUIRE(write(f, "c1", set_of(1, 10, "a")));
    REQUIRE(write(f, "c1", set_of(1, 11, "b")));
    REQUIRE(write(f, "c2", set_of(2, 20, "c")));
    REQUIRE(f.replica.last().seq == 3);
    REQUIRE(f.writes.take_batch().size() == 3);
    REQUIRE(f.writes.take_batch().empty());  // handed over once

    // Nothing is answered before the commit point moves.
    f.writes.answer_committed();
    REQUIRE(f.out.replies.empty());

    const auto committed = f.writes.take_committed(2);
    REQUIRE(committed.size() == 2);
    REQUIRE(committed.back().key == "b");
    f.writes.answer_committed();
    const auto acks = f.out.of<ack_reply>();
    REQUIRE(acks.size() == 1);
    REQUIRE(acks[0].first == "c1");
    REQUIRE(acks[0].second.request_ids == std::vector<std::uint64_t>{10, 11});
    REQUIRE(acks[0].second.seq == 2);
    REQUIRE(acks[0].second.epoch == 7);
    REQUIRE(f.writes.commit_seq() == 2);
    REQUIRE(f.writes.take_committed(2).empty());  // never backwards, never twice
}

TEST_CASE("write_path: begin refuses in order - not serving, then a retry is answered, then config, then alone",
          "[write_path]") {
    SECTION("not active: NOT_SERVING, nothing applied") {
        fixture f;
        REQUIRE_FALSE(write(f, "c", set_of(1, 1, "k"), false));
        REQUIRE(f.out.not_serving.size() == 1);
        REQUIRE(f.replica.last().seq == 0);
    }
    SECTION("a backup refuses configuration changes for good, naming the primary") {
        fixture f(1);
        REQUIRE_FALSE(write(f, "c", set_of(1, 1, "k", change_class::config)));
        const auto errors = f.out.of<error_reply>();
        REQUIRE(errors.size() == 1);
        REQUIRE(errors[0].second.code_value == error_code::config_refused);
        REQUIRE(errors[0].second.text.find("primary A") != std::string::npos);
        REQUIRE(write(f, "c", set_of(1, 2, "k")));  // operational changes are taken
    }
    SECTION("when_alone = refuse: RETRY_LATER with no synchronised replica, and nothing commits") {
        fixture f;
        f.cluster.when_alone = alone_policy::refuse;
        REQUIRE_FALSE(write(f, "c", set_of(1, 1, "k"), true, 0));
        REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::retry_later);
        REQUIRE(f.writes.refuses_alone(0));
        REQUIRE_FALSE(f.writes.refuses_alone(1));
        f.cluster.ack = ack_mode::local;  // nothing rests on a replica then
        REQUIRE_FALSE(f.writes.refuses_alone(0));
    }
    SECTION("a retry of an applied configuration change on a backup is acknowledged, not refused") {
        fixture f(1);
        change c = change_for(set_of(1, 5, "k", change_class::config));
        c.epoch = 3;
        c.seq = 1;
        REQUIRE(f.replica.apply(c));  // applied by the primary before it died
        f.writes.start_serving(1);
        REQUIRE_FALSE(write(f, "c", set_of(1, 5, "k", change_class::config)));
        f.writes.flush_immediate_acks();
        const auto acks = f.out.of<ack_reply>();
        REQUIRE(acks.size() == 1);
        REQUIRE(acks[0].second.seq == 1);
        REQUIRE(acks[0].second.epoch == 3);
        REQUIRE(f.out.of<error_reply>().empty());
    }
}

TEST_CASE("write_path: a retry is answered at its commit, never applied twice", "[write_path]") {
    fixture f;
    REQUIRE(write(f, "c1", set_of(1, 10, "a")));
    REQUIRE_FALSE(write(f, "c1-again", set_of(1, 10, "a")));  // the same request, from a new connection
    REQUIRE(f.replica.last().seq == 1);
    static_cast<void>(f.writes.take_committed(1));
    f.writes.answer_committed();
    const auto acks = f.out.of<ack_reply>();
    REQUIRE(acks.size() == 2);  // both waiters hear it
    // Once committed, a retry is answered at the end of the batch.
    f.out.clear();
    REQUIRE_FALSE(write(f, "c1", set_of(1, 10, "a")));
    REQUIRE(f.out.replies.empty());
    f.writes.flush_immediate_acks();
    REQUIRE(f.out.of<ack_reply>().size() == 1);
}

TEST_CASE("write_path: the commit point answers writers and retries up to it, in parts, and nobody twice",
          "[write_path]") {
    fixture f;
    REQUIRE(write(f, "c1", set_of(1, 10, "a")));
    REQUIRE(write(f, "c2", set_of(2, 20, "b")));
    REQUIRE_FALSE(write(f, "c1-again", set_of(1, 10, "a")));  // a retry of seq 1, waiting beside the writers
    REQUIRE(write(f, "c1", set_of(1, 11, "c")));
    // The commit point moves in parts (as replica ACKs arrive within a batch): each part answers only its own.
    static_cast<void>(f.writes.take_committed(1));
    f.writes.answer_committed();
    auto acks = f.out.of<ack_reply>();
    REQUIRE(acks.size() == 2);  // c1 and c1-again, for seq 1
    for (const auto& [identity, a] : acks) {
        CHECK(a.request_ids == std::vector<std::uint64_t>{10});
        CHECK(a.seq == 1);
    }
    f.out.clear();
    f.writes.answer_committed();  // nothing new is committed: nobody hears anything
    REQUIRE(f.out.replies.empty());
    static_cast<void>(f.writes.take_committed(3));
    f.writes.answer_committed();
    acks = f.out.of<ack_reply>();
    REQUIRE(acks.size() == 2);
    for (const auto& [identity, a] : acks) {
        if (identity == "c1") CHECK((a.request_ids == std::vector<std::uint64_t>{11} && a.seq == 3));
        else CHECK((identity == "c2" && a.request_ids == std::vector<std::uint64_t>{20} && a.seq == 2));
    }
}

TEST_CASE("write_path: a change the replicas would refuse is never logged", "[write_path]") {
    fixture f;
    change bad;
    bad.op = change_op::put;  // an empty key breaks check_change
    REQUIRE_FALSE(f.writes.commit(bad, "c", 4));
    REQUIRE(f.replica.last().seq == 0);
    REQUIRE(f.writes.refused_changes() == 1);
    REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::bad_request);
    REQUIRE_FALSE(f.writes.commit(bad, {}, 0));  // a replayed orphan: nobody to tell
    REQUIRE(f.out.replies.size() == 1);
}

// docs/protocol.md "Security": a SET of a reserved key that is no well-formed access entry is what every replica
// would refuse, so the server answers BAD_REQUEST and logs nothing; a well-formed grant is logged as any change.
TEST_CASE("write_path: a malformed access entry is refused with BAD_REQUEST and never logged, a grant is logged",
          "[write_path][security]") {
    fixture f;
    const std::string key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    set_request bad = set_of(1, 10, "$starbus/access/alice", change_class::config);
    bad.value = "admin " + key.substr(0, 20);  // a short key
    REQUIRE_FALSE(write(f, "c1", bad));
    CHECK(f.replica.last().seq == 0);
    CHECK(f.writes.refused_changes() == 1);
    REQUIRE(f.out.of<error_reply>().size() == 1);
    CHECK(f.out.of<error_reply>()[0].second.code_value == error_code::bad_request);
    CHECK(f.out.of<error_reply>()[0].second.request_id == 10);
    CHECK_THAT(f.out.of<error_reply>()[0].second.text, Catch::Contains("ROLE PUBLIC-KEY"));

    set_request elsewhere = set_of(1, 11, "$starbus/notes", change_class::config);
    REQUIRE_FALSE(write(f, "c1", elsewhere));
    CHECK(f.writes.refused_changes() == 2);
    CHECK(f.replica.state().find("$starbus/notes") == nullptr);

    set_request grant = set_of(1, 12, "$starbus/access/alice", change_class::config);
    grant.value = "admin " + key;
    REQUIRE(write(f, "c1", grant));
    CHECK(f.replica.last().seq == 1);
    REQUIRE(f.replica.state().find("$starbus/access/alice") != nullptr);
    CHECK(f.replica.state().find("$starbus/access/alice")->value == grant.value);
    CHECK(f.writes.refused_changes() == 2);
}

TEST_CASE("write_path: a new server waits for its own ack rule on what it inherited, and stopping forgets waiters",
          "[write_path]") {
    fixture f;
    for (std::uint64_t s = 1; s <= 4; ++s) {
        change c = change_for(set_of(9, s, "k" + std::to_string(s)));
        c.epoch = 3;
        c.seq = s;
        REQUIRE(f.replica.apply(c));
    }
    f.writes.start_serving(2);  // the previous server had acknowledged up to 2
    REQUIRE(f.writes.commit_seq() == 2);
    REQUIRE(write(f, "c", set_of(1, 1, "new")));
    const auto committed = f.writes.take_committed(5);
    REQUIRE(committed.size() == 3);  // 3 and 4 inherited, then 5
    REQUIRE(committed.front().seq == 3);

    REQUIRE(write(f, "c", set_of(1, 2, "more")));
    f.writes.stop_serving();
    static_cast<void>(f.writes.take_committed(6));
    f.out.clear();
    f.writes.answer_committed();
    REQUIRE(f.out.replies.empty());  // its client retries on the next server
}
