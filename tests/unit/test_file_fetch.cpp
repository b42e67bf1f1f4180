// File: test_file_fetch.cpp
// The receiving queue of file transfers, against a scripted sender: the credit
// bound in bytes over every file at once, chunks written where they belong,
// resuming at the reached offset after a reconnection (not at zero), a damaged
// chunk asked for again and never installed, a whole-file mismatch fetched
// again and then given up, a stale version reported, late and foreign chunks
// dropped, and empty files.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <random>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>
#include <starbus/files/file_fetch.hpp>

#include "testutil.hpp"

using namespace starbus;

namespace {

// "prefix" + number, built with append(): GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string`.
std::string named(std::string prefix, std::uint64_t n) { return prefix.append(std::to_string(n)); }

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

file_entry entry_for(const std::string& path, const std::string& content) {
    return file_entry{path, content.size(), hash_bytes(content), 1, 1, xxh128_bytes(content)};
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A sender holding some files: answers a FETCH with the exact bytes (and their checksum).
struct scripted_sender {
    std::map<std::string, std::string> files;  // hash -> content
    std::string scratch;                        // the chunk data the last view points into

    file_chunk_view answer(const fetch_request& r, bool damage = false) {
        const std::string& content = files.at(r.hash);
        scratch = content.substr(r.offset, r.length);
        const std::uint64_t sum = chunk_checksum(scratch.data(), scratch.size());
        if (damage) scratch[0] ^= 0x40;
        return file_chunk_view{r.request_id, r.path, r.hash, r.offset, sum, scratch};
    }
};

struct fixture {
    starbus::test::temp_dir dir;
    std::uint64_t ids = 0;
    fetch_queue make(std::uint64_t chunk, std::uint64_t credit, bool sha = true) {
        fetch_settings s;
        s.chunk_bytes = chunk;
        s.credit_bytes = credit;
        s.verify_sha256 = sha;
        return fetch_queue(s, [this] { return ++ids; });
    }
    std::filesystem::path temp(const std::string& name) { return dir.path() / name; }
};

// Answers every order until the queue is idle or `limit` chunks were answered.
std::size_t drain(fetch_queue& q, scripted_sender& s, std::size_t limit = 1u << 30) {
    std::size_t answered = 0;
    while (answered < limit) {
        auto o = q.next_order();
        if (!o) break;
        REQUIRE(q.on_chunk(s.answer(o->request)) == chunk_outcome::accepted);
        ++answered;
    }
    return answered;
}

}  // namespace

TEST_CASE("files: a fetched file arrives whole, verified, in its temporary file") {
    fixture f;
    scripted_sender s;
    const std::string content = random_bytes(1000003, 1);
    const file_entry e = entry_for("big.bin", content);
    s.files[e.hash] = content;
    auto q = f.make(65536, 4 * 65536);
    q.add(e, f.temp("t1"), 7);
    CHECK(q.pending_files() == 1);
    CHECK(q.pending_bytes() == content.size());
    drain(q, s);
    CHECK(q.idle());
    CHECK(q.pending_bytes() == 0);
    auto done = q.take_completed();
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 7);
    CHECK(done[0].entry == e);
    CHECK(done[0].fd.valid());
    CHECK(read_file(done[0].temp_path) == content);
    CHECK(q.take_failed().empty());
}

TEST_CASE("files: the credit bounds the bytes asked for and not received, over every file at once") {
    fixture f;
    scripted_sender s;
    auto q = f.make(65536, 3 * 65536);
    std::vector<std::string> contents;
    for (int i = 0; i < 20; ++i) {
        contents.push_back(random_bytes(4096 + static_cast<std::size_t>(i) * 30000, 10 + i));
        const file_entry e = entry_for(named("f", i), contents.back());
        s.files[e.hash] = contents.back();
        q.add(e, f.temp(named("t", i)), static_cast<std::uint64_t>(i));
    }
    // Ask for as much as the credit allows, without answering: never more than the credit in flight.
    std::vector<fetch_order> asked;
    while (auto o = q.next_order()) asked.push_back(*o);
    CHECK(!asked.empty());
    CHECK(q.bytes_in_flight() <= 3 * 65536);
    std::uint64_t sum = 0;
    for (const auto& o : asked) sum += o.request.length;
    CHECK(sum == q.bytes_in_flight());
    // Small files share the credit: several are in flight at once.
    std::set<std::uint64_t> tags;
    for (const auto& o : asked) tags.insert(o.tag);
    CHECK(tags.size() > 1);
    // Answering returns credit; everything completes.
    for (const auto& o : asked) REQUIRE(q.on_chunk(s.answer(o.request)) == chunk_outcome::accepted);
    drain(q, s);
    auto done = q.take_completed();
    REQUIRE(done.size() == 20);
    for (auto& d : done) CHECK(read_file(d.temp_path) == contents[d.tag]);
}

TEST_CASE("files: after a reconnection a file resumes at the offset it had reached, not at zero") {
    fixture f;
    scripted_sender s;
    const std::string content = random_bytes(40 * 65536 + 123, 2);
    const file_entry e = entry_for("resume.bin", content);
    s.files[e.hash] = content;
    auto q = f.make(65536, 4 * 65536);
    q.add(e, f.temp("t"), 1);
    drain(q, s, 10);  // ten chunks received
    std::vector<fetch_order> lost;
    while (auto o = q.next_order()) lost.push_back(*o);  // asked of the old server, never answered
    CHECK(q.reached(1) == 10 * 65536);
    q.restart();
    CHECK(q.bytes_in_flight() == 0);
    auto first = q.next_order();
    REQUIRE(first);
    CHECK(first->request.offset == 10 * 65536);  // the resume point
    // A late answer from the old server is not a request any more: dropped.
    CHECK(q.on_chunk(s.answer(lost.front().request)) == chunk_outcome::unexpected);
    REQUIRE(q.on_chunk(s.answer(first->request)) == chunk_outcome::accepted);
    drain(q, s);
    auto done = q.take_completed();
    REQUIRE(done.size() == 1);
    CHECK(read_file(done[0].temp_path) == content);
    // Every byte received once before the restart and once after it at most: no start from zero.
    CHECK(q.received_bytes() <= content.size() + 4 * 65536);
}

TEST_CASE("files: a damaged chunk is asked for again, and a damaged file is never handed over") {
    fixture f;
    scripted_sender s;
    const std::string content = random_bytes(8 * 4096, 3);
    const file_entry e = entry_for("damaged.bin", content);
    s.files[e.hash] = content;
    auto q = f.make(4096, 4 * 4096);
    q.add(e, f.temp("t"), 1);
    auto o = q.next_order();
    REQUIRE(o);
    // The chunk's bytes do not match its checksum: dropped, and the same bytes are asked for again.
    CHECK(q.on_chunk(s.answer(o->request, true)) == chunk_outcome::corrupt);
    bool asked_again = false;
    std::vector<fetch_order> orders;
    while (auto again = q.next_order()) orders.push_back(*again);
    for (const auto& a : orders)
        if (a.request.offset == o->request.offset) asked_again = true;
    CHECK(asked_again);
    for (const auto& a : orders) {
        const auto r = q.on_chunk(s.answer(a.request));
        CHECK((r == chunk_outcome::accepted || r == chunk_outcome::unexpected));
    }
    drain(q, s);
    auto done = q.take_completed();
    REQUIRE(done.size() == 1);
    CHECK(read_file(done[0].temp_path) == content);

    SECTION("a sender whose copy differs from the digests (its checksums match its own bytes) is refused") {
        const std::string liar = random_bytes(3 * 4096, 4);
        file_entry claimed = entry_for("lie.bin", liar);
        std::string other = liar;
        other[5000] ^= 1;  // what the sender really holds
        s.files[claimed.hash] = other;
        q.add(claimed, f.temp("lie"), 2);
        drain(q, s);
        CHECK(q.take_completed().empty());  // fetched whole again, then given up: never handed over
        auto failed = q.take_failed();
        REQUIRE(failed.size() == 1);
        CHECK(failed[0].tag == 2);
        CHECK_FALSE(failed[0].stale);
        CHECK(failed[0].content_mismatch);  // the server answers such an upload BAD_REQUEST, not STORAGE_FAILED
        CHECK(failed[0].reason.find("does not match") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(f.temp("lie")));
    }
}

TEST_CASE("files: XXH3-128 alone catches a wrong file when SHA-256 is not checked") {
    fixture f;
    scripted_sender s;
    const std::string content = random_bytes(10000, 5);
    file_entry e = entry_for("x", content);
    std::string other = content;
    other[9999] ^= 1;
    s.files[e.hash] = other;
    auto q = f.make(4096, 8192, false);
    q.add(e, f.temp("t"), 1);
    drain(q, s);
    CHECK(q.take_completed().empty());
    CHECK(q.take_failed().size() == 1);
}

TEST_CASE("files: a version the sender no longer holds is reported stale") {
    fixture f;
    const std::string content = random_bytes(5000, 6);
    const file_entry e = entry_for("gone", content);
    auto q = f.make(4096, 8192);
    q.add(e, f.temp("t"), 9);
    auto o = q.next_order();
    REQUIRE(o);
    CHECK(q.on_stale(o->request.request_id) == 9);
    CHECK(q.idle());
    CHECK(q.bytes_in_flight() == 0);
    auto failed = q.take_failed();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].stale);
    CHECK_FALSE(q.on_stale(12345));  // not ours
}

TEST_CASE("files: chunks that answer no request, or answer it wrongly, are dropped") {
    fixture f;
    scripted_sender s;
    const std::string content = random_bytes(10000, 8);
    const file_entry e = entry_for("p", content);
    s.files[e.hash] = content;
    auto q = f.make(4096, 4096);
    q.add(e, f.temp("t"), 1);
    auto o = q.next_order();
    REQUIRE(o);
    file_chunk_view v = s.answer(o->request);
    file_chunk_view wrong_offset = v;
    wrong_offset.offset += 1;
    CHECK(q.on_chunk(wrong_offset) == chunk_outcome::unexpected);
    file_chunk_view wrong_id = v;
    wrong_id.request_id += 1000;
    CHECK(q.on_chunk(wrong_id) == chunk_outcome::unexpected);
    const std::string other_hash(64, 'e');
    file_chunk_view wrong_version = v;
    wrong_version.hash = other_hash;
    CHECK(q.on_chunk(wrong_version) == chunk_outcome::unexpected);
    file_chunk_view short_data = v;
    short_data.data = short_data.data.substr(1);
    CHECK(q.on_chunk(short_data) == chunk_outcome::unexpected);
    CHECK(q.on_chunk(v) == chunk_outcome::accepted);  // the request stayed in flight until the right answer
    CHECK(q.on_chunk(v) == chunk_outcome::unexpected);  // a duplicate
}

TEST_CASE("files: an empty file completes without a request, and cancelling deletes the temporary file") {
    fixture f;
    const file_entry empty = entry_for("empty", "");
    auto q = f.make(4096, 4096);
    q.add(empty, f.temp("e"), 1);
    CHECK_FALSE(q.next_order());
    auto done = q.take_completed();
    REQUIRE(done.size() == 1);
    CHECK(std::filesystem::file_size(done[0].temp_path) == 0);

    const std::string content = random_bytes(50000, 9);
    q.add(entry_for("c", content), f.temp("c"), 2);
    REQUIRE(q.next_order());
    CHECK(std::filesystem::exists(f.temp("c")));
    CHECK(q.cancel(2));
    CHECK_FALSE(std::filesystem::exists(f.temp("c")));
    CHECK(q.idle());
    CHECK(q.bytes_in_flight() == 0);
    CHECK(q.pending_bytes() == 0);
    CHECK_FALSE(q.cancel(2));
}

TEST_CASE("files: a temporary file that cannot be written fails the fetch with a reason") {
    fixture f;
    auto q = f.make(4096, 4096);
    q.add(entry_for("x", "abc"), f.dir.path() / "no-such-dir" / "t", 1);
    CHECK_FALSE(q.next_order());
    auto failed = q.take_failed();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].reason.find("cannot create the temporary file") != std::string::npos);
}
