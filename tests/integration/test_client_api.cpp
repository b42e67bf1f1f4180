// File: test_client_api.cpp
// The client API calls that spare an application its workarounds, against
// real brokers on loopback: a wait for a serving cluster and for a
// synchronised replica, the subscription ready signal (nothing published
// after it is lost, on the retained bus and on the best-effort bus), changes
// given as views with a window per call and one result each, messages taken
// in batches, and flush() reporting every failed request.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include <starbus/client/client.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

std::string numbered(const std::string& stem, int i) {
    std::string s = std::to_string(100000 + i);
    s.insert(0, stem);
    return s;
}

// Takes messages until every payload in `wanted` arrived or `within` passed; returns what arrived.
std::set<std::string> receive_all(starbus::client& sub, const std::set<std::string>& wanted,
                                  std::chrono::milliseconds within) {
    std::set<std::string> got;
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
        for (auto& m : sub.next_messages(1000, 50ms)) got.insert(m.payload);
        bool all = true;
        for (const auto& w : wanted) all = all && got.count(w) > 0;
        if (all) break;
    }
    return got;
}

}  // namespace

TEST_CASE("client api: wait_serving returns once a broker serves and says unreachable while none does",
          "[integration]") {
    test_cluster c(1);
    starbus::client cl(client_options_for(c));
    const auto before = cl.wait_serving(300ms);
    CHECK(before.status == starbus::result_status::unreachable);
    CHECK_FALSE(before.message.empty());
    c.start_all();
    const auto r = cl.wait_serving(20s);
    REQUIRE_WITH_LOGS(c, r.ok());
    CHECK(r.server == "A");
    REQUIRE(cl.server().has_value());
    CHECK(cl.set("api.first", "1", starbus::change_class::operational, 5s).ok());
}

TEST_CASE("client api: wait_replicated waits for a synchronised replica of the server", "[integration]") {
    test_cluster c(2);
    c.start_all();
    starbus::client cl(client_options_for(c));
    const auto r = cl.wait_replicated(1, 30s);
    REQUIRE_WITH_LOGS(c, r.ok());
    CHECK(r.server == "A");
    const auto rows = cl.status_all(2s);
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].role == "passive");
    // Two replicas of a two-broker cluster never exist: the wait says how far it got.
    const auto two = cl.wait_replicated(2, 300ms);
    CHECK(two.status == starbus::result_status::unreachable);
    INFO(two.message);
    CHECK(two.message.find("1 of the 2") != std::string::npos);
}

TEST_CASE("client api: after wait_subscribed no message published is lost on the best-effort bus",
          "[integration]") {
    // Without a bus log, messages go only over the publish port: a subscription not yet in place loses them.
    test_cluster c(1, 50, "[bus]\nretain_messages = 0\n");
    c.start_all();
    starbus::client pub(client_options_for(c));
    REQUIRE_WITH_LOGS(c, pub.wait_serving(20s).ok());
    // Fresh subscribers, each publishing at once after the signal: the race a subscription in place closes.
    for (int round = 0; round < 5; ++round) {
        INFO("round " << round);
        starbus::client sub(client_options_for(c));
        sub.subscribe("api/");
        REQUIRE(sub.wait_subscribed(10s));
        std::set<std::string> sent;
        for (int i = 0; i < 20; ++i) {
            std::string stem = std::to_string(round);  // by append: GCC 12 warns wrongly about "r" + ... (-Wrestrict)
            stem.append("-");
            const std::string payload = numbered(stem, i);
            REQUIRE(pub.publish("api/t", payload, 5s).ok());
            sent.insert(payload);
        }
        CHECK(receive_all(sub, sent, 10s) == sent);
    }
}

TEST_CASE("client api: a prefix added later on the best-effort bus is in place after wait_subscribed",
          "[integration]") {
    test_cluster c(1, 50, "[bus]\nretain_messages = 0\n");
    c.start_all();
    starbus::client pub(client_options_for(c));
    starbus::client sub(client_options_for(c));
    sub.subscribe("one/");
    REQUIRE_WITH_LOGS(c, sub.wait_subscribed(20s));
    sub.subscribe("two/");
    REQUIRE(sub.wait_subscribed(10s));
    REQUIRE(pub.publish("two/x", "second prefix", 5s).ok());
    CHECK(receive_all(sub, {"second prefix"}, 10s) == std::set<std::string>{"second prefix"});
}

TEST_CASE("client api: after wait_subscribed the retained bus delivers everything published afterwards",
          "[integration]") {
    test_cluster c(1);
    c.start_all();
    starbus::client pub(client_options_for(c));
    starbus::client sub(client_options_for(c));
    sub.subscribe("api/");  // start: latest
    REQUIRE_WITH_LOGS(c, sub.wait_subscribed(20s));
    std::set<std::string> sent;
    for (int i = 0; i < 50; ++i) {
        sent.insert(numbered("m", i));
        pub.publish_async("api/t", numbered("m", i), 5s);
    }
    REQUIRE(pub.flush(10s).ok());
    CHECK(receive_all(sub, sent, 10s) == sent);
}

TEST_CASE("client api: next_messages takes what is queued in one call, in order", "[integration]") {
    test_cluster c(1);
    c.start_all();
    starbus::client pub(client_options_for(c));
    starbus::client sub(client_options_for(c));
    sub.subscribe("");
    REQUIRE_WITH_LOGS(c, sub.wait_subscribed(20s));
    for (int i = 0; i < 30; ++i) pub.publish_async("batch", numbered("b", i), 5s);
    REQUIRE(pub.flush(10s).ok());
    std::vector<std::string> got;
    std::size_t largest_batch = 0;
    REQUIRE(wait_until([&] {
        auto batch = sub.next_messages(1000, 100ms);
        largest_batch = std::max(largest_batch, batch.size());
        for (auto& m : batch) got.push_back(std::move(m.payload));
        return got.size() >= 30;
    }, 10s, 0ms));
    CHECK(largest_batch > 1);
    REQUIRE(got.size() == 30);
    for (int i = 0; i < 30; ++i) CHECK(got[static_cast<std::size_t>(i)] == numbered("b", i));
    CHECK(sub.next_messages(5, 0ms).empty());
    CHECK(sub.next_messages(0, 0ms).empty());
}

TEST_CASE("client api: apply_many takes views, a window per call, and gives one result per change",
          "[integration]") {
    test_cluster c(1);
    c.start_all();
    starbus::client cl(client_options_for(c));
    REQUIRE_WITH_LOGS(c, cl.wait_serving(20s).ok());
    std::vector<std::string> keys, values;
    for (int i = 0; i < 40; ++i) {
        keys.push_back(numbered("view.", i));
        values.push_back(numbered("v", i));
    }
    std::vector<starbus::change_view> changes;
    for (std::size_t i = 0; i < keys.size(); ++i) changes.push_back({starbus::change_op::put,
                                                                     starbus::change_class::operational, keys[i],
                                                                     values[i]});
    changes.push_back({starbus::change_op::put, starbus::change_class::operational, "", "no key"});
    changes.push_back({starbus::change_op::erase, starbus::change_class::operational, keys[0], {}});
    const auto r = cl.apply_many(changes, 10s, 3);
    REQUIRE(r.results.size() == changes.size());
    CHECK_FALSE(r.ok());
    CHECK(r.failures() == 1);
    for (std::size_t i = 0; i < keys.size(); ++i) CHECK(r.results[i].ok());
    CHECK(r.results[keys.size()].status == starbus::result_status::invalid);
    CHECK(r.results.back().ok());
    CHECK(cl.get(keys[1], 5s).value == values[1]);
    CHECK(cl.get(keys[0], 5s).status == starbus::result_status::not_found);
}

TEST_CASE("client api: flush_outcomes names every failed request by ticket and key", "[integration]") {
    test_cluster c(1);
    c.start_all();
    starbus::client cl(client_options_for(c));
    REQUIRE_WITH_LOGS(c, cl.wait_serving(20s).ok());
    const auto ok1 = cl.submit(starbus::change_request::put("flush.a", "1"), 5s);
    const auto bad1 = cl.submit(starbus::change_request::put("", "no key"), 5s);
    const auto bad2 = cl.publish_async(std::string(2000, 't'), "topic too long", 5s);
    const auto ok2 = cl.publish_async("flush/t", "fine", 5s);
    CHECK(ok1 != bad1);
    CHECK(ok2 != bad2);
    const auto f = cl.flush_outcomes(10s);
    CHECK_FALSE(f.ok());
    CHECK(f.outstanding == 0);
    REQUIRE(f.failures.size() == 2);
    CHECK(f.failures[0].ticket == bad1);
    CHECK(f.failures[0].key.empty());
    CHECK(f.failures[0].outcome.status == starbus::result_status::invalid);
    CHECK(f.failures[1].ticket == bad2);
    CHECK(f.failures[1].key.size() == 2000);
    CHECK(f.summary.message.find("1 more") != std::string::npos);
    // Reported once: the next flush starts afresh.
    CHECK(cl.flush_outcomes(1s).failures.empty());
    CHECK(cl.flush(1s).ok());
}
