// File: test_chunk_plan.cpp
// Chunk planning and credit accounting: exact coverage of the file, the last
// partial chunk, empty files, the credit bound, out-of-order and duplicate
// chunks, and resuming from the reached offset after a failover.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include <starbus/files/chunk_plan.hpp>

using namespace starbus;

namespace {

std::vector<chunk_request> all_of(chunk_plan p) {
    std::vector<chunk_request> out;
    while (auto r = p.next()) out.push_back(*r);
    return out;
}

// Checks that the requests tile [start, size) exactly, in order.
void check_tiles(const std::vector<chunk_request>& rs, std::uint64_t start, std::uint64_t size,
                 std::uint64_t chunk) {
    std::uint64_t at = start;
    for (const auto& r : rs) {
        CHECK(r.offset == at);  // no gap, no overlap
        CHECK(r.length > 0);
        CHECK(r.length <= chunk);
        at += r.length;
    }
    CHECK(at == std::max(start, size));
}

}  // namespace

TEST_CASE("files: chunk plan covers the file exactly, with a partial last chunk") {
    for (std::uint64_t size : {1ULL, 99ULL, 100ULL, 101ULL, 1000ULL, 12345ULL}) {
        INFO("size " << size);
        const auto rs = all_of(chunk_plan(size, 100));
        check_tiles(rs, 0, size, 100);
        CHECK(rs.size() == (size + 99) / 100);
        CHECK(rs.back().length == (size % 100 == 0 ? 100 : size % 100));
    }
}

TEST_CASE("files: chunk plan of a zero-length file asks for nothing") {
    chunk_plan p(0, 4096);
    CHECK(p.done());
    CHECK_FALSE(p.next());
    credit_window w(0, 4096, 8);
    CHECK_FALSE(w.can_request());
    CHECK(w.done());
    CHECK(w.reached() == 0);
}

TEST_CASE("files: chunk plan from a start offset, aligned or not, and beyond the end") {
    check_tiles(all_of(chunk_plan(1000, 100, 300)), 300, 1000, 100);
    check_tiles(all_of(chunk_plan(1000, 100, 250)), 250, 1000, 100);
    chunk_plan beyond(1000, 100, 5000);
    CHECK(beyond.done());
    CHECK(beyond.next_offset() == 1000);
    CHECK_THROWS_AS(chunk_plan(10, 0), std::invalid_argument);
    CHECK_THROWS_AS(credit_window(10, 10, 0), std::invalid_argument);
}

TEST_CASE("files: chunk plan near the top of the 64-bit range does not overflow") {
    const std::uint64_t size = ~0ULL;
    chunk_plan p(size, 1ULL << 62, size - 10);
    auto r = p.next();
    REQUIRE(r);
    CHECK(r->length == 10);
    CHECK(p.done());
}

TEST_CASE("files: credit window never exceeds its credit and receives every byte once") {
    const std::uint64_t size = 10 * 64 + 7;
    credit_window w(size, 64, 3);
    std::vector<chunk_request> pending;
    std::vector<chunk_request> written;
    std::mt19937 rng(42);
    while (!w.done()) {
        while (w.can_request()) pending.push_back(*w.next_request());
        CHECK(w.in_flight() <= 3);
        CHECK(w.in_flight() == pending.size());
        CHECK_FALSE(w.next_request());  // no credit left, or nothing left to ask
        // Answer one request at random: chunks arrive out of order.
        std::uniform_int_distribution<std::size_t> pick(0, pending.size() - 1);
        const std::size_t i = pick(rng);
        REQUIRE(w.on_chunk(pending[i].offset, pending[i].length));
        written.push_back(pending[i]);
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    }
    CHECK(w.reached() == size);
    std::sort(written.begin(), written.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
    check_tiles(written, 0, size, 64);
}

TEST_CASE("files: credit window reached() stops at the first gap") {
    credit_window w(400, 100, 4);
    for (int i = 0; i < 4; ++i) REQUIRE(w.next_request());
    REQUIRE(w.on_chunk(100, 100));
    REQUIRE(w.on_chunk(300, 100));
    CHECK(w.reached() == 0);  // byte 0 still missing
    REQUIRE(w.on_chunk(0, 100));
    CHECK(w.reached() == 200);  // 0 and 100 contiguous; 300 waits for 200
    REQUIRE(w.on_chunk(200, 100));
    CHECK(w.reached() == 400);
    CHECK(w.done());
}

TEST_CASE("files: credit window rejects duplicate, unknown and misshapen chunks") {
    credit_window w(300, 100, 2);
    const auto a = *w.next_request();
    const auto b = *w.next_request();
    CHECK_FALSE(w.on_chunk(200, 100));      // never requested
    CHECK_FALSE(w.on_chunk(50, 100));       // not a chunk boundary
    CHECK_FALSE(w.on_chunk(a.offset, 99));  // wrong length
    CHECK_FALSE(w.on_chunk(a.offset, 101));
    CHECK(w.on_chunk(a.offset, a.length));
    CHECK_FALSE(w.on_chunk(a.offset, a.length));  // duplicate
    CHECK(w.in_flight() == 1);
    CHECK(w.on_chunk(b.offset, b.length));
    CHECK(w.reached() == 200);
    CHECK_FALSE(w.on_chunk(b.offset, b.length));  // duplicate after reached moved past it
}

TEST_CASE("files: credit window resumes from the reached offset after a failover") {
    const std::uint64_t size = 1000;
    credit_window w(size, 100, 4);
    for (int i = 0; i < 4; ++i) REQUIRE(w.next_request());  // 0, 100, 200, 300
    REQUIRE(w.on_chunk(0, 100));
    REQUIRE(w.on_chunk(100, 100));
    REQUIRE(w.on_chunk(300, 100));  // beyond the gap at 200
    CHECK(w.reached() == 200);

    // The server dies: requests in flight are lost; the chunk beyond the gap is forgotten.
    w.restart_from(w.reached());
    CHECK(w.in_flight() == 0);
    CHECK(w.reached() == 200);
    CHECK_FALSE(w.on_chunk(200, 100));  // a late answer from the old server is not in flight any more

    std::vector<chunk_request> asked;
    while (!w.done()) {
        while (w.can_request()) asked.push_back(*w.next_request());
        const auto r = asked[asked.size() - w.in_flight()];  // answer in order
        REQUIRE(w.on_chunk(r.offset, r.length));
    }
    check_tiles(asked, 200, size, 100);  // resumed at 200, not at 0
    CHECK(w.reached() == size);

    // An offset beyond what was reached is clamped: unwritten bytes are never skipped.
    credit_window v(size, 100, 2, 500);
    CHECK(v.reached() == 500);
    v.restart_from(900);
    CHECK(v.reached() == 500);
    CHECK(v.next_request() == chunk_request{500, 100});
    v.restart_from(0);  // a new version: start over
    CHECK(v.reached() == 0);
    CHECK(v.next_request() == chunk_request{0, 100});
}
