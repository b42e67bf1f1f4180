// File: test_client_request_table.cpp
// The client's outstanding requests: matching, re-sending after a failover,
// retry_later, deadlines, window and in-order delivery.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>
#include <utility>

#include <starbus/wire/codec.hpp>

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

TEST_CASE("client: a request left unanswered by one broker is marked, so a later refusal is not definite") {
    request_table t(10);
    t.add(req(1));
    t.add(req(2));
    t.mark_sent(1);  // 2 never left this client
    CHECK_FALSE(t.find(1)->unanswered_elsewhere);
    t.mark_all_unsent(false);  // the same broker at a new epoch: not elsewhere
    CHECK_FALSE(t.find(1)->unanswered_elsewhere);
    t.mark_sent(1);
    t.mark_all_unsent();
    CHECK(t.find(1)->unanswered_elsewhere);
    CHECK_FALSE(t.find(2)->unanswered_elsewhere);
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

TEST_CASE("client: send_unsent hands frames over oldest first and stops when the socket is full") {
    request_table t(10);
    for (std::uint64_t i = 1; i <= 4; ++i) t.add(req(i));
    std::vector<std::string> sent;
    auto send_two = [&](const std::string& frame) {
        if (sent.size() == 2) return false;  // libzmq is full
        sent.push_back(frame);
        return true;
    };
    CHECK(t.send_unsent(send_two) == 2);
    CHECK(sent == std::vector<std::string>{"1000", "2000"});
    CHECK(t.unsent() == std::vector<std::uint64_t>{3, 4});  // the rest go later, in order
    sent.clear();
    CHECK(t.send_unsent([&](const std::string& frame) {
        sent.push_back(frame);
        return true;
    }) == 2);
    CHECK(sent == std::vector<std::string>{"3000", "4000"});
    CHECK(t.unsent().empty());
}

TEST_CASE("client: request ids used elsewhere (probes, mirror syncs) leave gaps the table skips") {
    request_table t(4);
    t.add(req(1));
    t.add(req(5));
    t.add(req(9, false));
    CHECK(t.find(3) == nullptr);
    CHECK_FALSE(t.complete(3, ok_at(3)));
    CHECK(t.unsent() == std::vector<std::uint64_t>{1, 5, 9});
    t.complete(9, ok_at(9));
    t.complete(5, ok_at(5));
    CHECK(ids(t.take_finished()) == std::vector<std::uint64_t>{9});
    t.complete(1, ok_at(1));
    CHECK(ids(t.take_finished()) == std::vector<std::uint64_t>{1, 5});
    CHECK(t.idle());
    t.add(req(1000));  // far beyond: the table starts afresh
    CHECK(t.unsent() == std::vector<std::uint64_t>{1000});
    CHECK(t.find(1000)->frame == "1000000");
}

TEST_CASE("client: one old request outliving thousands of newer ones") {
    // The ids spread far beyond the window: the ring grows and keeps every request.
    request_table t(4);
    t.add(req(1));
    for (auto id : t.unsent()) t.mark_sent(id);
    std::size_t delivered = 0;
    for (std::uint64_t i = 2; i <= 5000; ++i) {
        t.add(req(i, false));
        CHECK(t.complete(i, ok_at(i)));
        delivered += t.take_finished().size();
    }
    CHECK(delivered == 4999);
    CHECK(t.outstanding() == 1);
    REQUIRE(t.find(1) != nullptr);
    CHECK(t.find(1)->frame == "1000");
    t.mark_all_unsent();
    CHECK(t.unsent() == std::vector<std::uint64_t>{1});
    t.add(req(5001));
    t.complete(5001, ok_at(5001));
    CHECK(t.take_finished().empty());  // 5001 waits behind 1
    CHECK(t.complete(1, ok_at(1)));
    CHECK(ids(t.take_finished()) == std::vector<std::uint64_t>{1, 5001});
    CHECK(t.idle());
}

TEST_CASE("client: a finished request waiting for an earlier one is no longer outstanding") {
    request_table t(10);
    t.add(req(1));
    t.add(req(2));
    for (auto id : t.unsent()) t.mark_sent(id);
    CHECK(t.complete(2, ok_at(2)));
    CHECK(t.find(2) == nullptr);
    CHECK_FALSE(t.complete(2, ok_at(2)));  // a duplicate of a held reply
    t.schedule_resend(2, clock::now());     // nothing to resend
    CHECK(t.release_due_resends(clock::now()) == 0);
    t.mark_all_unsent();
    CHECK(t.unsent() == std::vector<std::uint64_t>{1});
    CHECK(t.outstanding() == 1);
    CHECK(t.in_flight() == 2);
}

namespace {

// The table as it was specified first (maps and a deque), to check the ring
// against on random histories: same outcomes, same order.
class reference_table {
  public:
    void add(const pending_request& r) {
        if (r.ordered) _order.push_back(r.id);
        auto& p = _pending[r.id] = r;
        p.sent = false;
        p.resend_at = clock::time_point::max();
    }
    bool complete(std::uint64_t id, std::uint64_t seq) {
        auto it = _pending.find(id);
        if (it == _pending.end()) return false;
        const bool ordered = it->second.ordered;
        _pending.erase(it);
        if (!ordered) _ready.push_back({id, seq});
        else _held[id] = seq;
        while (!_order.empty() && _held.count(_order.front())) {
            _ready.push_back({_order.front(), _held[_order.front()]});
            _held.erase(_order.front());
            _order.pop_front();
        }
        return true;
    }
    void mark_all_unsent() {
        for (auto& [id, r] : _pending) {
            r.sent = false;
            r.resend_at = clock::time_point::max();
        }
    }
    std::vector<std::uint64_t> unsent() const {
        std::vector<std::uint64_t> out;
        for (const auto& [id, r] : _pending)
            if (!r.sent && r.resend_at == clock::time_point::max()) out.push_back(id);
        return out;
    }
    void mark_sent(std::uint64_t id) {
        auto it = _pending.find(id);
        if (it != _pending.end() && it->second.resend_at == clock::time_point::max()) it->second.sent = true;
    }
    void schedule_resend(std::uint64_t id, clock::time_point when) {
        auto it = _pending.find(id);
        if (it == _pending.end()) return;
        it->second.sent = false;
        it->second.resend_at = when;
    }
    std::size_t release_due_resends(clock::time_point now) {
        std::size_t n = 0;
        for (auto& [id, r] : _pending)
            if (r.resend_at <= now) {
                r.resend_at = clock::time_point::max();
                ++n;
            }
        return n;
    }
    std::vector<std::uint64_t> overdue(clock::time_point now) const {
        std::vector<std::uint64_t> out;
        for (const auto& [id, r] : _pending)
            if (r.deadline <= now) out.push_back(id);
        return out;
    }
    std::optional<clock::time_point> next_timer() const {
        auto next = clock::time_point::max();
        for (const auto& [id, r] : _pending) next = std::min({next, r.deadline, r.resend_at});
        if (next == clock::time_point::max()) return std::nullopt;
        return next;
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> take_finished() { return std::exchange(_ready, {}); }
    std::size_t outstanding() const { return _pending.size(); }
    std::size_t in_flight() const { return _pending.size() + _held.size(); }
    bool has(std::uint64_t id) const { return _pending.count(id) > 0; }

  private:
    std::map<std::uint64_t, pending_request> _pending;
    std::deque<std::uint64_t> _order;
    std::map<std::uint64_t, std::uint64_t> _held;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> _ready;
};

}  // namespace

TEST_CASE("client: the request table behaves like its map-based specification on random histories") {
    for (std::uint32_t seed = 1; seed <= 40; ++seed) {
        std::mt19937 rng(seed);
        auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
        const auto t0 = clock::now();
        request_table t(1 + pick(64));
        reference_table ref;
        std::uint64_t next_id = 0;
        for (int step = 0; step < 3000; ++step) {
            INFO("seed " << seed << ", step " << step);
            const auto now = t0 + milliseconds(step);
            switch (pick(10)) {
                case 0:
                case 1:
                case 2: {
                    next_id += 1 + (pick(8) == 0 ? pick(100) : 0);  // sometimes a gap (a probe's ids)
                    const auto deadline = pick(4) == 0 ? clock::time_point::max() : now + milliseconds(pick(2000));
                    auto r = req(next_id, pick(3) != 0, deadline);
                    ref.add(r);
                    t.add(std::move(r));
                    break;
                }
                case 3:
                case 4: {  // a reply, often to the oldest requests, sometimes a duplicate or not ours
                    const auto id = next_id == 0 ? 0 : next_id - std::min<std::uint64_t>(next_id - 1, pick(40));
                    CHECK(t.complete(id, ok_at(id)) == ref.complete(id, id));
                    break;
                }
                case 5: {
                    const auto ids_ref = ref.unsent();
                    CHECK(t.unsent() == ids_ref);
                    const auto budget = pick(ids_ref.size() + 2);
                    std::size_t sent = 0;
                    t.send_unsent([&](const std::string&) {
                        if (sent == budget) return false;  // the socket is full
                        ++sent;
                        return true;
                    });
                    for (std::size_t i = 0; i < sent; ++i) ref.mark_sent(ids_ref[i]);
                    break;
                }
                case 6:
                    if (pick(10) == 0) {
                        t.mark_all_unsent();
                        ref.mark_all_unsent();
                    } else {
                        const auto id = next_id - std::min<std::uint64_t>(next_id, pick(20));
                        const auto when = now + milliseconds(pick(50));
                        t.schedule_resend(id, when);
                        ref.schedule_resend(id, when);
                    }
                    break;
                case 7:
                    CHECK(t.release_due_resends(now) == ref.release_due_resends(now));
                    break;
                case 8: {
                    const auto overdue = ref.overdue(now);
                    for (auto id : overdue) ref.complete(id, 0);
                    CHECK(t.expire(now, [] { return result{}; }) == overdue.size());
                    break;
                }
                default: {
                    std::vector<std::pair<std::uint64_t, std::uint64_t>> got;
                    for (const auto& f : t.take_finished()) {
                        CHECK(f.key == std::to_string(f.id));
                        got.emplace_back(f.id, f.outcome.position.seq);
                    }
                    CHECK(got == ref.take_finished());
                    break;
                }
            }
            CHECK(t.outstanding() == ref.outstanding());
            CHECK(t.in_flight() == ref.in_flight());
            CHECK(t.unsent() == ref.unsent());
            if (next_id > 0) CHECK((t.find(next_id) != nullptr) == ref.has(next_id));
            // next_timer() may report a stale (earlier) deadline bound: never a later one.
            const auto timer = t.next_timer();
            if (const auto ref_timer = ref.next_timer()) {
                REQUIRE(timer);
                CHECK(*timer <= *ref_timer);
            }
            if (t.outstanding() == 0) CHECK_FALSE(timer);
        }
    }
}

namespace {

pending_request publish(std::uint64_t id, std::string_view topic = "t") {
    pending_request r;
    r.id = id;
    r.kind = request_kind::publish;
    r.frame = encode_publish(id, 5, topic, "payload " + std::to_string(id));
    r.key = std::string(topic);
    r.ordered = true;
    return r;
}

// What send_unsent sent, each frame decoded: the request_ids of each frame.
std::vector<std::vector<std::uint64_t>> sent_frames(request_table& t) {
    std::vector<std::vector<std::uint64_t>> out;
    t.send_unsent([&](const std::string& frame) {
        decode_result d = decode(frame.data(), frame.size());
        REQUIRE(d.ok());
        std::vector<std::uint64_t> ids;
        if (const auto* m = std::get_if<publish_many_request>(&*d.value)) {
            for (const auto& p : m->publishes) ids.push_back(p.request_id);
            CHECK(ids.size() >= 2);  // a lone publish goes as PUBLISH
        } else {
            ids.push_back(d.request_id);
        }
        out.push_back(ids);
        return true;
    });
    return out;
}

pending_request change_req(std::uint64_t id) {
    pending_request r;
    r.id = id;
    r.kind = request_kind::change;
    r.frame = encode(set_request{id, 5, change_op::put, change_class::operational, "k", "v"});
    r.ordered = true;
    return r;
}

using frames = std::vector<std::vector<std::uint64_t>>;

}  // namespace

TEST_CASE("client: publishes waiting in a row go as one PUBLISH-MANY, cut at other requests and gaps") {
    request_table t(100);
    for (std::uint64_t id = 1; id <= 4; ++id) t.add(publish(id));
    t.add(change_req(5));
    t.add(publish(6));
    t.add(publish(8));  // 7 went elsewhere (a ping): ids no longer follow one another
    t.add(publish(9));
    CHECK(sent_frames(t) == frames{{1, 2, 3, 4}, {5}, {6}, {8, 9}});
    CHECK(t.unsent().empty());

    // After a failover everything unanswered goes again, batched the same way; the answered ones are gone.
    CHECK(t.complete(2, ok_at(2)));
    t.mark_all_unsent();
    CHECK(sent_frames(t) == frames{{1}, {3, 4}, {5}, {6}, {8, 9}});
}

TEST_CASE("client: a PUBLISH-MANY carries at most max_batched_publishes, and about max_batched_bytes") {
    request_table t(5000);
    const std::uint64_t n = request_table::max_batched + 10;
    for (std::uint64_t id = 1; id <= n; ++id) t.add(publish(id));
    auto f = sent_frames(t);
    REQUIRE(f.size() == 2);
    CHECK(f[0].size() == request_table::max_batched);
    CHECK(f[1].size() == 10);

    // Publishes of 1 KiB topics: as many as fit in max_batched_bytes of PUBLISH frames, then the next frame.
    request_table big(1000);
    const std::string topic(1024, 't');
    std::size_t bytes = 0, fit = 0;
    for (std::uint64_t id = 1; id <= 1500; ++id) {
        pending_request p = publish(id, topic);
        if (fit == id - 1 && bytes + p.frame.size() <= request_table::max_batched_bytes) {
            bytes += p.frame.size();
            ++fit;
        }
        big.add(std::move(p));
    }
    REQUIRE(fit < 1500);
    f = sent_frames(big);
    REQUIRE(f.size() >= 2);
    CHECK(f[0].size() == fit);
}

TEST_CASE("client: a broker that predates PUBLISH-MANY gets the publishes again one per frame") {
    request_table t(100);
    for (std::uint64_t id = 1; id <= 3; ++id) t.add(publish(id));
    CHECK(sent_frames(t) == frames{{1, 2, 3}});
    // The session's answer to UNKNOWN_COMMAND for a publish (session_replies.cpp).
    t.batch_requests(false);
    t.mark_batchable_unsent();
    CHECK(t.unsent() == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(sent_frames(t) == frames{{1}, {2}, {3}});
}

TEST_CASE("client: SETs waiting in a row go as one SET-MANY, other changes alone") {
    request_table t(100);
    for (std::uint64_t id = 1; id <= 3; ++id) t.add(change_req(id));
    pending_request rm;  // a file removal is a change too, but has no -MANY form
    rm.id = 4;
    rm.kind = request_kind::change;
    rm.frame = encode(file_remove_request{4, 5, "a/b"});
    rm.ordered = true;
    t.add(rm);
    t.add(change_req(5));
    t.add(change_req(6));
    t.add(publish(7));  // a PUBLISH after SETs starts a frame of its own
    t.add(publish(8));
    std::vector<command> kinds;
    std::vector<std::vector<std::uint64_t>> ids;
    t.send_unsent([&](const std::string& frame) {
        decode_result d = decode(frame.data(), frame.size());
        REQUIRE(d.ok());
        kinds.push_back(std::visit([](const auto& m) { return m.code; }, *d.value));
        std::vector<std::uint64_t> in;
        if (const auto* m = std::get_if<set_many_request>(&*d.value))
            for (const auto& s : m->sets) in.push_back(s.request_id);
        else if (const auto* p = std::get_if<publish_many_request>(&*d.value))
            for (const auto& x : p->publishes) in.push_back(x.request_id);
        else
            in.push_back(d.request_id);
        ids.push_back(in);
        return true;
    });
    CHECK(ids == frames{{1, 2, 3}, {4}, {5, 6}, {7, 8}});
    CHECK(kinds == std::vector<command>{command::set_many_request, command::file_remove_request,
                                        command::set_many_request, command::publish_many_request});
}
