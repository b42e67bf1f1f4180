// File: test_spec.cpp
// docs/protocol.md clauses that need no broker: the exact hash encodings and
// their test vectors, decoding of commands that grew by appended fields (an
// older peer's shorter body, a newer peer's longer one), the codec's answer to
// impossible command codes, and the mirror matching delta CHANGES to its
// SNAPSHOT. Each case quotes the clause it checks (libzmq's
// tests/test_spec_router.cpp does the same for ZMTP).
#include <catch2/catch.hpp>

#include <starbus/wire/codec.hpp>
#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "change_builders.hpp"
#include "state_mirror.hpp"

using namespace starbus;
using starbus::test::put;

namespace {

// An envelope with code `code` and a body of `fields` packed by `pack_body`.
template <typename PackBody>
std::string envelope(std::uint64_t code, std::uint32_t fields, PackBody&& pack_body) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(4);
    pk.pack(std::string("SB"));
    pk.pack(1);
    pk.pack(code);
    pk.pack_array(fields);
    pack_body(pk);
    return std::string(b.data(), b.size());
}

template <typename T>
T decoded_as(const std::string& frame) {
    auto d = decode(frame.data(), frame.size());
    INFO(d.reason);
    REQUIRE(d.ok());
    const T* m = std::get_if<T>(&*d.value);
    REQUIRE(m != nullptr);
    return *m;
}

std::string thousand_bytes() {
    std::string s(1000, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i % 256);
    return s;
}

}  // namespace

TEST_CASE("spec: XXH3-64 has seed 0 and XXH3-128 is written high half first, as the test vectors say") {
    // "XXH3-64 (CHUNK checksum): XXH3 64-bit of data with seed 0 and the default secret"
    // "XXH3-128 ... 32 lowercase hex digits of its canonical form: the high 64 bits first, then the low 64 bits,
    // each most significant byte first"
    struct vector {
        std::string input;
        std::uint64_t xxh64;
        const char* xxh128;
    };
    const vector vectors[] = {
        {"", 0x2d06800538d394c2ULL, "99aa06d3014798d86001c324468d497f"},
        {"abc", 0x78af5f94892f3950ULL, "06b05ab6733a618578af5f94892f3950"},
        {thousand_bytes(), 0xd33dd80b46f60e50ULL, "076f7e02b7120d2ad33dd80b46f60e50"},
    };
    for (const auto& v : vectors) {
        INFO(v.input.size() << " bytes");
        CHECK(chunk_checksum(v.input.data(), v.input.size()) == v.xxh64);
        CHECK(xxh128_bytes(v.input) == v.xxh128);
        // "For the last two inputs the low 64 bits of XXH3-128 equal their XXH3-64": the half written last is
        // the low half.
        if (v.input.empty()) continue;
        char low[17];
        std::snprintf(low, sizeof low, "%016llx", static_cast<unsigned long long>(v.xxh64));
        CHECK(std::string(v.xxh128).substr(16) == low);
    }
    // "SHA-256 ... 64 lowercase hex digits, the digest's bytes in order (what sha256sum prints)"
    CHECK(hash_bytes("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("spec: a digest in upper case is refused") {
    // "A digest in upper case is refused (BAD_REQUEST)"
    file_put_request r{1, 9, "f", 0, hash_bytes(""), "99AA06D3014798D86001C324468D497F"};
    const std::string upper = encode(r);
    auto d = decode(upper.data(), upper.size());
    CHECK_FALSE(d.ok());
    CHECK(d.error == error_code::bad_request);
    r.xxh = "99aa06d3014798d86001c324468d497f";
    const std::string lower = encode(r);
    CHECK(decode(lower.data(), lower.size()).ok());
}

TEST_CASE("spec: commands that grew by appended fields decode from older and newer peers") {
    // "A decoder SHALL ignore fields beyond those it knows, and SHALL give missing trailing fields their default
    // values (0, false, empty)." msgpack-c's MSGPACK_DEFINE does both: it converts the fields the array holds
    // and leaves the rest as the struct's defaults; extra elements are never read.
    SECTION("PING of an earlier draft: [client_id]") {
        auto p = decoded_as<ping>(envelope(13, 1, [](auto& pk) { pk.pack(42); }));
        CHECK(p.client_id == 42);
        CHECK(p.request_id == 0);
    }
    SECTION("PONG of an earlier draft: [state, epoch, seq, server]") {
        auto p = decoded_as<pong>(envelope(14, 4, [](auto& pk) {
            pk.pack(4);
            pk.pack(3);
            pk.pack(17);
            pk.pack(std::string("A"));
        }));
        CHECK(p.state == broker_state::active);
        CHECK(p.seq == 17);
        CHECK(p.server == "A");
        CHECK(p.request_id == 0);
    }
    SECTION("CHANGES of an earlier draft: [changes, commit_seq]") {
        auto c = decoded_as<change_batch>(envelope(21, 2, [](auto& pk) {
            pk.pack(std::vector<change>{put(1, 5, "k", "v")});
            pk.pack(5);
        }));
        REQUIRE(c.changes.size() == 1);
        CHECK(c.commit_seq == 5);
        CHECK(c.request_id == 0);
    }
    SECTION("STATUS-REPLY of a broker older than release and libzmq: 12 fields") {
        // "Fields appended within version 1 so far ... STATUS-REPLY's `release` and `libzmq`. A peer SHALL read
        // a missing one as 0 (a missing string as empty)"
        auto st = decoded_as<status_reply>(envelope(11, 12, [](auto& pk) {
            pk.pack(5);                  // request_id
            pk.pack(std::string("B"));   // name
            pk.pack(1);                  // rank
            pk.pack(3);                  // state: passive
            pk.pack(2);                  // epoch
            pk.pack(40);                 // seq
            pk.pack(0);                  // pending
            pk.pack(1);                  // clients
            pk.pack(std::string("A"));   // server
            pk.pack(std::string("replica of A"));
            pk.pack(0);                  // pending_files
            pk.pack(0);                  // pending_bytes
        }));
        CHECK(st.request_id == 5);
        CHECK(st.name == "B");
        CHECK(st.state == broker_state::passive);
        CHECK(st.seq == 40);
        CHECK(st.note == "replica of A");
        CHECK(st.release.empty());
        CHECK(st.libzmq.empty());
    }
    SECTION("a PONG of a later revision, with a field this decoder does not know") {
        auto p = decoded_as<pong>(envelope(14, 6, [](auto& pk) {
            pk.pack(4);
            pk.pack(3);
            pk.pack(17);
            pk.pack(std::string("A"));
            pk.pack(99);
            pk.pack(std::string("a field from the future"));
        }));
        CHECK(p.request_id == 99);
        CHECK(p.server == "A");
    }
    SECTION("the appended fields travel, last") {
        // "PING = [ client_id, request_id ]", "PONG = [ state, epoch, seq, server, request_id ]",
        // "CHANGES = [ changes, commit_seq, request_id ]"
        CHECK(decoded_as<ping>(encode(ping{7, 8})).request_id == 8);
        CHECK(decoded_as<pong>(encode(pong{broker_state::passive, 2, 3, "B", 9})).request_id == 9);
        CHECK(decoded_as<change_batch>(encode(change_batch{{}, 4, 10})).request_id == 10);
        // "STATUS-REPLY = [ request_id, name, rank, state, epoch, seq, pending, clients, server, note,
        //                   pending_files, pending_bytes, release, libzmq ]"
        status_reply st;
        st.release = "0.1.0";
        st.libzmq = "4.3.4";
        const std::string status_frame = encode(st);
        auto sh = msgpack::unpack(status_frame.data(), status_frame.size());
        const auto& status_body = sh.get().via.array.ptr[3];
        REQUIRE(status_body.via.array.size == 14);
        CHECK(status_body.via.array.ptr[12].as<std::string>() == "0.1.0");
        CHECK(status_body.via.array.ptr[13].as<std::string>() == "4.3.4");
        const std::string frame = encode(pong{broker_state::passive, 2, 3, "B", 9});
        auto h = msgpack::unpack(frame.data(), frame.size());
        const auto& body = h.get().via.array.ptr[3];
        REQUIRE(body.via.array.size == 5);
        CHECK(body.via.array.ptr[4].as<std::uint64_t>() == 9);
    }
}

TEST_CASE("spec: command codes 0 and 256 and above are unknown commands, answered with the request_id") {
    // "a code that is not an unsigned integer naming a command this broker knows (0, every code of 256 or more,
    // ...) SHALL be answered UNKNOWN_COMMAND, with the request_id read from the body"
    for (std::uint64_t code : {std::uint64_t{0}, std::uint64_t{15}, std::uint64_t{255}, std::uint64_t{256},
                               std::uint64_t{256 + 13}, ~std::uint64_t{0}}) {
        INFO("code " << code);
        const std::string frame = envelope(code, 1, [](auto& pk) { pk.pack(31); });
        auto d = decode(frame.data(), frame.size());
        CHECK_FALSE(d.ok());
        CHECK(d.error == error_code::unknown_command);
        CHECK(d.request_id == 31);
    }
}

TEST_CASE("spec: a client applies delta CHANGES only to the SNAPSHOT they answer") {
    // "A client SHALL apply a CHANGES that arrives on the request port only as part of the delta of the SNAPSHOT
    // it has in flight: one whose request_id is not 0 and differs from that SNAPSHOT's ... SHALL be ignored."
    using client_detail::state_mirror;
    state_mirror m;
    (void)m.start_sync(1, true);
    REQUIRE(m.on_part(snapshot_part{1, {put(1, 1, "a", "1")}}) == state_mirror::outcome::in_progress);
    REQUIRE(m.on_end(snapshot_end{.request_id = 1, .epoch = 1, .seq = 1, .is_delta = false}) ==
            state_mirror::outcome::completed);
    m.new_server();
    (void)m.start_sync(2, true);  // abandoned: its answer may still be on its way
    m.abandon_sync();
    (void)m.start_sync(3, true);
    CHECK(m.on_delta(change_batch{{put(1, 2, "stale", "from sync 2")}, 2, 2}) == state_mirror::outcome::ignored);
    CHECK(m.on_delta(change_batch{{put(2, 2, "b", "2")}, 2, 3}) == state_mirror::outcome::in_progress);
    CHECK(m.on_end(snapshot_end{.request_id = 3, .epoch = 2, .seq = 2, .is_delta = true}) ==
          state_mirror::outcome::completed);
    CHECK(m.state().find("b"));
    CHECK_FALSE(m.state().find("stale"));

    // "A CHANGES with request_id 0 on the request port comes from a broker of an earlier draft ... and belongs to
    // the SNAPSHOT in flight"
    m.new_server();
    (void)m.start_sync(4, true);
    CHECK(m.on_delta(change_batch{{put(2, 3, "c", "3")}, 3, 0}) == state_mirror::outcome::in_progress);
    CHECK(m.on_end(snapshot_end{.request_id = 4, .epoch = 2, .seq = 3, .is_delta = true}) ==
          state_mirror::outcome::completed);
    CHECK(m.state().find("c"));
}
