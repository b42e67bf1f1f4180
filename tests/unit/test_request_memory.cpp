// File: test_request_memory.cpp
// The recent applied requests (request_memory): lookups, the first record of a
// request wins, the oldest go first once full, and lookups stay right after
// many wraps of the ring and deletions from the index (checked against a plain
// model: a deque and a map).
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>

#include <starbus/state/request_memory.hpp>

using namespace starbus;

TEST_CASE("request_memory: finds what it holds, and the first record of a request wins") {
    request_memory m(8);
    CHECK_FALSE(m.find(1, 1));
    m.remember({1, 1, 3, 10});
    m.remember({2, 1, 3, 11});
    m.remember({1, 1, 4, 12});  // a retry applied again must not move its position
    REQUIRE(m.find(1, 1));
    CHECK(m.find(1, 1)->seq == 10);
    CHECK(m.find(2, 1)->seq == 11);
    CHECK_FALSE(m.find(2, 2));
    CHECK(m.size() == 2);
    CHECK(m.all() == std::vector<request_record>{{1, 1, 3, 10}, {2, 1, 3, 11}});
}

TEST_CASE("request_memory: once full, the oldest go first, and all() is oldest first") {
    request_memory m(4);
    for (std::uint64_t i = 1; i <= 6; ++i) m.remember({7, i, 1, i});
    CHECK(m.size() == 4);
    CHECK_FALSE(m.find(7, 1));
    CHECK_FALSE(m.find(7, 2));
    for (std::uint64_t i = 3; i <= 6; ++i) CHECK(m.find(7, i));
    CHECK(m.all() == std::vector<request_record>{{7, 3, 1, 3}, {7, 4, 1, 4}, {7, 5, 1, 5}, {7, 6, 1, 6}});
    m.clear();
    CHECK(m.size() == 0);
    CHECK_FALSE(m.find(7, 6));
    m.remember({7, 6, 1, 9});
    CHECK(m.find(7, 6)->seq == 9);
}

namespace {

// The specification: the newest `capacity` distinct records, in a deque and a map.
struct plain_model {
    explicit plain_model(std::size_t c) : capacity(c) {}
    std::size_t capacity;
    std::deque<request_record> order;
    std::map<std::pair<std::uint64_t, std::uint64_t>, request_record> held;

    void remember(const request_record& r) {
        if (!held.emplace(std::pair{r.client_id, r.request_id}, r).second) return;
        order.push_back(r);
        if (order.size() <= capacity) return;
        held.erase({order.front().client_id, order.front().request_id});
        order.pop_front();
    }
};

}  // namespace

TEST_CASE("request_memory: agrees with a plain model over many wraps (clients interleaved, retries)") {
    constexpr std::size_t capacity = 1000;
    request_memory m(capacity);
    plain_model model(capacity);
    auto& order = model.order;
    auto& held = model.held;
    std::mt19937_64 rng(42);
    std::uint64_t next_id[5] = {1, 1, 1, 1, 1};
    for (std::uint64_t seq = 1; seq <= 20000; ++seq) {
        const std::uint64_t client = 1 + rng() % 5;
        // Mostly new requests; sometimes a retry of a recent one (a duplicate), which changes nothing.
        const bool retry = next_id[client - 1] > 3 && rng() % 8 == 0;
        const std::uint64_t id = retry ? next_id[client - 1] - 1 - rng() % 3 : next_id[client - 1]++;
        const request_record r{client * 0x1000001, id, 1, seq};
        m.remember(r);
        model.remember(r);
        if (seq % 997 == 0) {
            REQUIRE(m.size() == held.size());
            CHECK(m.all() == std::vector<request_record>(order.begin(), order.end()));
            for (std::uint64_t c = 1; c <= 5; ++c)
                for (std::uint64_t i = 1; i < next_id[c - 1]; ++i) {
                    auto it = held.find({c * 0x1000001, i});
                    const auto found = m.find(c * 0x1000001, i);
                    REQUIRE(found.has_value() == (it != held.end()));
                    if (found) CHECK(*found == it->second);
                }
        }
    }
}

TEST_CASE("request_memory: agrees with the model with more clients than it keeps watermarks for") {
    // The per-client watermark answers "new" without probing; past max_watermarks clients (4096) the rest
    // are probed. Either way every answer must be the model's, for held, forgotten and future request ids.
    constexpr std::size_t capacity = 20000;
    constexpr std::uint64_t clients = 6000;
    request_memory m(capacity);
    plain_model model(capacity);
    auto& held = model.held;
    std::vector<std::uint64_t> next_id(clients, 1);
    std::mt19937_64 rng(7);
    for (std::uint64_t seq = 1; seq <= 60000; ++seq) {
        // Clients arrive over time (the first ones fill the watermarks), then all of them interleave.
        const std::uint64_t client = seq < 12000 ? seq / 2 % clients : rng() % clients;
        const bool retry = next_id[client] > 2 && rng() % 6 == 0;
        const std::uint64_t id = retry ? next_id[client] - 1 - rng() % 2 : next_id[client]++;
        const request_record r{client + 1, id, 1, seq};
        m.remember(r);
        model.remember(r);
        if (seq % 4999 == 0) {
            REQUIRE(m.size() == held.size());
            for (int k = 0; k < 3000; ++k) {
                const std::uint64_t c = rng() % clients;
                const std::uint64_t i = 1 + rng() % (next_id[c] + 1);  // up to one past the newest
                const auto it = held.find({c + 1, i});
                const auto found = m.find(c + 1, i);
                REQUIRE(found.has_value() == (it != held.end()));
                if (found) CHECK(*found == it->second);
            }
        }
    }
}
