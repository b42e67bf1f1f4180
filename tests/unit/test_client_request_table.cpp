// File: test_client_request_table.cpp
// The client's outstanding requests: matching, re-sending after a failover,
// retry_later, deadlines, window and in-order delivery.
#include <catch2/catch.hpp>

#include "request_table.hpp"

using namespace starbus;
using namespace starbus::client_detail;
using std::chrono::milliseconds;

namespace {

pending_request req(std::uint64_t id, bool ordered = true, clock::time_point deadline = clock::time_point::max()) {
    pending_request r;
    r.id = id;
    r.kind = request_kind::change;
    // Plain numbers: GCC 12 warns falsely (-Wrestrict, bug 105329) on "literal" + to_string() at -O2.
    r.frame = std::to_string(id * 1000);
    r.key = std::to_string(id);
    r.ordered = ordered;
    r.deadline = deadline;
    return r;
}

get_result ok_at(std::uint64_t seq) {
    get_result g;
    g.position = {1, seq};
    return g;
}

std::vector<std::uint64_t> ids(const std::vector<finished_request>& f) {
    std::vector<std::uint64_t> out;
    for (const auto& x : f) out.push_back(x.id);
    return out;
}

}  // namespace

TEST_CASE("client: request table matches replies by request_id, once") {
    request_table t(10);
    t.add(req(1));
    t.add(req(2));
    CHECK(t.outstanding() == 2);
    CHECK(t.complete(2, ok_at(5)));
    CHECK_FALSE(t.complete(2, ok_at(5)));  // a duplicate reply after a resend
    CHECK_FALSE(t.complete(99, ok_at(5)));  // not ours
    CHECK(t.outstanding() == 1);
}

TEST_CASE("client: ordered requests are delivered in submission order") {
    // set_many: "Results are delivered in the order of submission"
    request_table t(10);
    for (std::uint64_t i = 1; i <= 4; ++i) t.add(req(i));
    t.complete(3, ok_at(3));
    t.complete(2, ok_at(2));
    CHECK(t.take_finished().empty());  // 1 is still outstanding
    CHECK(t.in_flight() == 4);         // held results count against the window
    t.complete(1, ok_at(1));
    CHECK(ids(t.take_finished()) == std::vector<std::uint64_t>{1, 2, 3});
    t.complete(4, ok_at(4));
    auto last = t.take_finished();
    REQUIRE(last.size() == 1);
    CHECK(last[0].key == "4");
    CHECK(last[0].outcome.position.seq == 4);
    CHECK(t.idle());
}

TEST_CASE("client: unordered requests are delivered as they finish") {
    request_table t(10);
    t.add(req(1, true));
    t.add(req(2, false));
    t.complete(2, ok_at(2));
    CHECK(ids(t.take_finished()) == std::vector<std::uint64_t>{2});
}

TEST_CASE("client: after a failover every unacknowledged request is re-sent, oldest first") {
    // "re-send every outstanding request unchanged (same client_id and request_id)"
    request_table t(10);
    for (std::uint64_t i = 1; i <= 3; ++i) t.add(req(i));
    CHECK(t.unsent() == std::vector<std::uint64_t>{1, 2, 3});
    for (auto id : t.unsent()) t.mark_sent(id);
    CHECK(t.unsent().empty());
    t.complete(2, ok_at(2));
    t.mark_all_unsent();
    CHECK(t.unsent() == std::vector<std::uint64_t>{1, 3});
    CHECK(t.find(3)->frame == "3000");  // unchanged
}

TEST_CASE("client: retry_later resends one request after its pause") {
    request_table t(10);
    t.add(req(1));
    t.add(req(2));
    for (auto id : t.unsent()) t.mark_sent(id);
    const auto now = clock::now();
    t.schedule_resend(1, now + milliseconds(20));
    CHECK(t.unsent().empty());  // not before its time
    REQUIRE(t.next_timer());
    CHECK(*t.next_timer() == now + milliseconds(20));
    CHECK(t.release_due_resends(now + milliseconds(10)) == 0);
    CHECK(t.release_due_resends(now + milliseconds(20)) == 1);
    CHECK(t.unsent() == std::vector<std::uint64_t>{1});
}

TEST_CASE("client: a failover cancels pending retry pauses: everything goes to the new broker") {
    request_table t(10);
    t.add(req(1));
    for (auto id : t.unsent()) t.mark_sent(id);
    t.schedule_resend(1, clock::now() + std::chrono::hours(1));
    t.mark_all_unsent();
    CHECK(t.unsent() == std::vector<std::uint64_t>{1});
}

TEST_CASE("client: requests past their deadline finish with the given outcome") {
    request_table t(10);
    const auto now = clock::now();
    t.add(req(1, true, now + milliseconds(10)));
    t.add(req(2, true, now + milliseconds(50)));
    REQUIRE(t.next_timer());
    CHECK(*t.next_timer() <= now + milliseconds(10));
    int made = 0;
    auto unreachable = [&] {
        ++made;
        result r;
        r.status = result_status::unreachable;
        r.message = "no broker reachable";
        return r;
    };
    CHECK(t.expire(now, unreachable) == 0);
    CHECK(made == 0);  // built only when something expires
    CHECK(t.expire(now + milliseconds(10), unreachable) == 1);
    auto f = t.take_finished();
    REQUIRE(f.size() == 1);
    CHECK(f[0].outcome.status == result_status::unreachable);
    CHECK(f[0].outcome.message == "no broker reachable");
    CHECK(t.outstanding() == 1);
}

TEST_CASE("client: the window counts outstanding and held-back requests") {
    request_table t(2);
    t.add(req(1));
    CHECK_FALSE(t.full());
    t.add(req(2));
    CHECK(t.full());
    t.complete(2, ok_at(2));
    CHECK(t.full());  // 2 waits behind 1
    t.complete(1, ok_at(1));
    CHECK_FALSE(t.full());
    CHECK(t.take_finished().size() == 2);
}
