// File: test_snapshot_file.cpp
// The snapshot file on its own (snapshot_file.hpp): a state written and read
// back agrees in everything a snapshot keeps (keys, files, bus messages,
// applied requests, epochs), the header holds the documented fields, a
// snapshot of the older layout (without the optional trailing objects) still
// loads, damage is a storage_error naming the file, and a failed write keeps
// the old snapshot.
#include <catch2/catch.hpp>

#include "file_bytes.hpp"
#include "change_builders.hpp"

#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iterator>

#include "snapshot_file.hpp"
#include "testutil.hpp"

#include <starbus/files/posix_io.hpp>

using namespace starbus;
namespace fs = std::filesystem;

using starbus::test::read_bytes;
using starbus::test::write_bytes;
using starbus::test::le32;

namespace {

using starbus::test::put;

void put_le32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

const bus_retention retention{100, 1 << 20, 3600000};

// A state with keys, files, bus messages, applied requests and two epochs.
kv_state sample_state() {
    kv_state s;
    s.set_bus_retention(retention);
    const std::uint64_t now_ms = 1764720000000;
    REQUIRE(s.apply(put(1, 1, "valve.1", "open", 5, 1)));
    REQUIRE(s.apply(starbus::test::file_put(1, 2, "docs/a", 10, std::string(64, 'a'))));
    REQUIRE(s.apply(change{1, 3, change_op::publish, change_class::operational, "alarms", "hot", 6, 2, now_ms}));
    REQUIRE(s.apply(put(2, 4, "valve.2", std::string("\0\xff", 2), 5, 3)));
    REQUIRE(s.apply(change{2, 5, change_op::publish, change_class::operational, "alarms", "cold", 6, 4, now_ms + 1}));
    return s;
}

void require_agrees(const kv_state& got, const kv_state& expected) {
    REQUIRE(got.last() == expected.last());
    REQUIRE(got.entries() == expected.entries());
    REQUIRE(got.files() == expected.files());
    REQUIRE(got.bus_log() == expected.bus_log());
    REQUIRE(got.requests() == expected.requests());
    REQUIRE(got.epochs() == expected.epochs());
    REQUIRE(got.bus_dropped_through() == expected.bus_dropped_through());
}

// A snapshot file with `body` and a correct header.
std::string framed(const std::string& body) {
    std::string h(snapshot_header_size, '\0');
    h.replace(0, 8, "SBSNAP01");
    for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>(std::uint64_t(body.size()) >> (8 * i));
    put_le32(h, 16, crc32c(body));
    put_le32(h, 20, crc32c(h.data(), 20));
    return h + body;
}

}  // namespace

TEST_CASE("snapshot file: a state written reads back whole") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    const kv_state state = sample_state();
    write_snapshot_file(path, state);
    CHECK_FALSE(fs::exists(temp_path_of(path)));
    require_agrees(read_snapshot_file(path, retention), state);

    SECTION("an empty state too") {
        write_snapshot_file(path, kv_state{});
        const kv_state empty = read_snapshot_file(path, retention);
        CHECK(empty.last() == position{});
        CHECK(empty.entries().empty());
    }
}

TEST_CASE("snapshot file: the header holds the magic, the body's size and both checksums") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    write_snapshot_file(path, sample_state());
    const std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() > snapshot_header_size);
    const std::string body = bytes.substr(snapshot_header_size);
    CHECK(bytes.substr(0, 8) == "SBSNAP01");
    CHECK(le32(bytes, 8) == body.size());
    CHECK(le32(bytes, 12) == 0);
    CHECK(le32(bytes, 16) == crc32c(body));
    CHECK(le32(bytes, 20) == crc32c(bytes.data(), 20));
    CHECK(bytes == framed(body));
}

TEST_CASE("snapshot file: one of the older layout, without the trailing objects, still loads") {
    // position | entry count | change... | request count | request_record..., and nothing after.
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    msgpack::sbuffer body;
    msgpack::packer<msgpack::sbuffer> pk(body);
    pk.pack(position{1, 7});
    pk.pack(std::uint64_t{1});
    pk.pack(put(1, 7, "valve.1", "open", 5, 1));
    pk.pack(std::uint64_t{1});
    pk.pack(request_record{5, 1, 1, 7});
    write_bytes(path, framed(std::string(body.data(), body.size())));

    const kv_state s = read_snapshot_file(path, retention);
    CHECK(s.last() == position{1, 7});
    REQUIRE(s.find("valve.1"));
    CHECK(s.find("valve.1")->value == "open");
    CHECK(s.requests().size() == 1);
    CHECK(s.bus_dropped_through() == 0);
}

TEST_CASE("snapshot file: damage is a storage_error that names the file and what to do") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    write_snapshot_file(path, sample_state());
    std::string bytes = read_bytes(path);
    std::string why;

    SECTION("a flipped byte in the body") {
        bytes[snapshot_header_size + 5] ^= 0x04;
        why = "body checksum mismatch";
    }
    SECTION("cut short") {
        bytes.resize(bytes.size() - 3);
        why = "its size is";
    }
    SECTION("shorter than its header") {
        bytes.resize(10);
        why = "shorter than its header";
    }
    SECTION("another magic") {
        bytes[7] = '2';
        why = "not a starbus snapshot";
    }
    SECTION("a flipped bit in the header") {
        bytes[9] ^= 0x01;
        why = "header checksum mismatch";
    }
    SECTION("a body that ends early, with correct checksums") {
        msgpack::sbuffer body;
        msgpack::pack(body, position{1, 1});
        bytes = framed(std::string(body.data(), body.size()));
        why = "body ends early";
    }
    write_bytes(path, bytes);
    CHECK_THROWS_WITH(read_snapshot_file(path, retention),
                      Catch::Contains("snapshot file " + path.string() + " is corrupt") && Catch::Contains(why) &&
                          Catch::Contains("resync"));
}

TEST_CASE("snapshot file: a missing file is a storage_error naming it") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    CHECK_THROWS_AS(read_snapshot_file(path, retention), storage_error);
    CHECK_THROWS_WITH(read_snapshot_file(path, retention),
                      Catch::Contains("cannot open snapshot file " + path.string()));
}

TEST_CASE("snapshot file: a write that fails keeps the old snapshot and no temporary") {
    test::temp_dir tmp;
    const fs::path path = tmp.path() / "snapshot";
    kv_state old_state;
    REQUIRE(old_state.apply(put(1, 1, "k", "v")));
    write_snapshot_file(path, old_state);
    const std::string old_bytes = read_bytes(path);

    kv_state big;
    for (std::uint64_t s = 1; s <= 20; ++s) {
        std::string key = "k";
        key += std::to_string(s);  // not "k" + ...: GCC 12 warns falsely (-Wrestrict)
        REQUIRE(big.apply(put(1, s, key, std::string(200, 'v'))));
    }
    {
        rlimit saved{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit tight = saved;
        tight.rlim_cur = 1000;  // less than the new snapshot
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
        CHECK_THROWS_WITH(
            write_snapshot_file(path, big),
            Catch::Contains("cannot write " + temp_path_of(path).string()) && Catch::Contains("check free space"));
        ::setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, old_handler);
    }
    CHECK(read_bytes(path) == old_bytes);
    CHECK_FALSE(fs::exists(temp_path_of(path)));
}
