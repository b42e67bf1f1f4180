// File: test_change_log.cpp
// The change log file on its own (change_log.hpp): its bytes as
// durable_store.hpp documents them, appends read back in order, a torn tail
// or a bad checksum found and cut exactly where recovery cut it before the
// log was a unit of its own, and the caller stopping the read.
#include <catch2/catch.hpp>

#include "file_bytes.hpp"
#include "change_builders.hpp"

#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iterator>

#include "change_log.hpp"
#include "testutil.hpp"

using namespace starbus;
namespace fs = std::filesystem;

using starbus::test::read_bytes;
using starbus::test::write_bytes;
using starbus::test::le32;
using starbus::test::le64;

namespace {

using starbus::test::erase;
using starbus::test::put;

change sample(std::uint64_t epoch, std::uint64_t seq) {
    if (seq % 5 == 0) return erase(epoch, seq, "key" + std::to_string(seq % 3));
    return put(epoch, seq, "key" + std::to_string(seq % 3), std::string(seq, 'v'), seq % 2, seq);
}

// Reads `path` back whole, every record taken.
struct read_result {
    change_log::scan scan;
    std::vector<change> records;
};
read_result read_all(const fs::path& path) {
    auto log = change_log::open(path);
    REQUIRE(log);
    read_result r;
    r.scan = log->read_back([&](change&& c) {
        r.records.push_back(std::move(c));
        return true;
    });
    return r;
}

// Writes a log at `path` following `base` with the records base.seq+1 .. base.seq+count, one flush each;
// returns the file's size after each record.
std::vector<std::uint64_t> write_log(const fs::path& path, position base, std::uint64_t count) {
    change_log log = change_log::create(path, base, {});
    std::vector<std::uint64_t> ends;
    for (std::uint64_t s = base.seq + 1; s <= base.seq + count; ++s) {
        log.append(sample(base.epoch, s));
        log.flush(false);
        ends.push_back(fs::file_size(path));
    }
    return ends;
}

}  // namespace

TEST_CASE("change log: the header and records are the documented bytes") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    const change c = put(3, 8, "valve", "open", 4, 9);
    (void)change_log::create(path, position{3, 7}, {c});
    const std::string bytes = read_bytes(path);

    // header: "SBLOG001" | u64 base epoch | u64 base seq | u32 0 | u32 crc(first 28 bytes)
    REQUIRE(bytes.size() > log_header_size + 8);
    CHECK(bytes.substr(0, 8) == "SBLOG001");
    CHECK(le64(bytes, 8) == 3);
    CHECK(le64(bytes, 16) == 7);
    CHECK(le32(bytes, 24) == 0);
    CHECK(le32(bytes, 28) == crc32c(bytes.data(), 28));
    CHECK(bytes.substr(0, log_header_size) == encode_log_header(position{3, 7}));

    // record: u32 payload length | u32 crc(length bytes + payload) | msgpack change
    const std::uint32_t len = le32(bytes, log_header_size);
    CHECK(bytes.size() == log_header_size + 8 + len);
    const std::string payload = bytes.substr(log_header_size + 8);
    CHECK(le32(bytes, log_header_size + 4) ==
          crc32c_update(crc32c(bytes.data() + log_header_size, 4), payload.data(), payload.size()));
    msgpack::sbuffer packed;
    msgpack::pack(packed, c);
    CHECK(payload == std::string(packed.data(), packed.size()));
    std::string framed;
    encode_record(framed, c);
    CHECK(framed == bytes.substr(log_header_size));
}

TEST_CASE("change log: appended records read back in order, after the records it was created with") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    {
        change_log log = change_log::create(path, position{2, 10}, {sample(2, 11), sample(2, 12)});
        CHECK(log.records() == 2);
        for (std::uint64_t s = 13; s <= 40; ++s) log.append(sample(2, s));
        CHECK(log.records() == 30);  // buffered ones count
        log.flush(true);
        CHECK(log.records() == 30);
    }
    const read_result r = read_all(path);
    CHECK(r.scan.why.empty());
    CHECK(r.scan.taken == 30);
    CHECK(r.scan.valid_end == fs::file_size(path));
    CHECK(r.scan.file_size == fs::file_size(path));
    REQUIRE(r.records.size() == 30);
    for (std::uint64_t s = 11; s <= 40; ++s) CHECK(r.records[s - 11] == sample(2, s));

    auto log = change_log::open(path);
    REQUIRE(log);
    CHECK(log->base() == position{2, 10});
}

TEST_CASE("change log: a torn last record is found at every byte offset and cut") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    const auto ends = write_log(path, position{1, 0}, 4);
    const std::string full = read_bytes(path);
    const std::uint64_t start = ends[2], end = ends[3];

    for (std::uint64_t cut = start + 1; cut < end; ++cut) {
        CAPTURE(cut);
        write_bytes(path, full.substr(0, cut));
        auto log = change_log::open(path);
        REQUIRE(log);
        const auto scan = log->read_back([](change&&) { return true; });
        CHECK(scan.taken == 3);
        CHECK(scan.valid_end == start);
        CHECK(scan.file_size == cut);
        CHECK_THAT(scan.why, Catch::Contains("cut short"));
        log->keep_valid(scan);
        CHECK(fs::file_size(path) == start);
        // The next record goes right after the last good one.
        log->append(sample(1, 4));
        log->flush(true);
        CHECK(read_bytes(path) == full);
    }
}

TEST_CASE("change log: a bad checksum, a bad length or a gap in seq stops the read there") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    const auto ends = write_log(path, position{1, 0}, 3);
    std::string bytes = read_bytes(path);
    std::string expected_why;

    SECTION("a flipped byte in the middle record's payload") {
        bytes[(ends[0] + ends[1]) / 2] ^= 0x20;
        expected_why = "record checksum mismatch";
    }
    SECTION("an impossible length") {
        bytes[ends[0] + 3] = static_cast<char>(0x7f);
        expected_why = "impossible record length";
    }
    SECTION("a record whose seq does not follow") {
        // Record 2 replaced by a well-formed record 5: intact, but not contiguous.
        std::string five;
        encode_record(five, sample(1, 5));
        bytes = bytes.substr(0, ends[0]) + five + bytes.substr(ends[1]);
        expected_why = "seq 5 does not follow 1";
    }
    write_bytes(path, bytes);

    auto log = change_log::open(path);
    REQUIRE(log);
    std::vector<change> kept;
    const auto scan = log->read_back([&](change&& c) {
        kept.push_back(std::move(c));
        return true;
    });
    REQUIRE(kept.size() == 1);
    CHECK(kept[0] == sample(1, 1));
    CHECK(scan.valid_end == ends[0]);
    CHECK_THAT(scan.why, Catch::Contains(expected_why));
    log->keep_valid(scan);
    CHECK(fs::file_size(path) == ends[0]);
}

TEST_CASE("change log: the caller can stop the read, and that is not damage") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    const auto ends = write_log(path, position{1, 0}, 5);
    auto log = change_log::open(path);
    REQUIRE(log);
    const auto scan = log->read_back([](change&& c) { return c.seq < 3; });
    CHECK(scan.taken == 2);
    CHECK(scan.valid_end == ends[1]);
    CHECK(scan.why.empty());
}

TEST_CASE("change log: a missing file is nullopt, a damaged header a storage_error naming it") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    CHECK_FALSE(change_log::open(path));
    (void)write_log(path, position{4, 9}, 1);
    std::string bytes = read_bytes(path);

    SECTION("a flipped bit in the base") { bytes[9] ^= 0x01; }
    SECTION("another magic") { bytes[7] = '2'; }
    SECTION("shorter than a header") { bytes.resize(log_header_size - 1); }
    write_bytes(path, bytes);
    CHECK_THROWS_WITH(change_log::open(path), Catch::Contains(path.string()) && Catch::Contains("corrupt header") &&
                                                  Catch::Contains("move the data directory aside"));
}

TEST_CASE("change log: a failed write leaves no partial record and is retried whole") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "log";
    change_log log = change_log::create(path, position{}, {sample(1, 1)});
    const auto size = fs::file_size(path);
    {
        rlimit saved{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit tight = saved;
        tight.rlim_cur = size + 10;  // room for part of the next record only
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
        log.append(put(1, 2, "k", std::string(100, 'v')));
        CHECK_THROWS_WITH(log.flush(false), Catch::Contains("cannot write the change log " + path.string()));
        ::setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, old_handler);
    }
    CHECK(fs::file_size(path) == size);
    CHECK_FALSE(log.failed());
    log.flush(false);
    const read_result r = read_all(path);
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[1] == put(1, 2, "k", std::string(100, 'v')));
}
