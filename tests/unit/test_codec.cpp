// File: test_codec.cpp
// The envelope and every command: round trips, and rejection of whatever is
// not a well-formed starbus message (protocol.md "Message envelope": a
// message that does not start with the signature and version is rejected).
#include <catch2/catch.hpp>

#include <random>

#include <cstring>

#include <starbus/common/codec.hpp>
#include <starbus/common/fast_hash.hpp>

using namespace starbus;

namespace {

std::string pack_envelope(const std::string& sig, int version, int code, const msgpack::object* body = nullptr) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(4);
    pk.pack(sig);
    pk.pack(version);
    pk.pack(code);
    if (body) pk.pack(*body);
    else pk.pack_array(0);
    return {b.data(), b.size()};
}

template <typename T>
T round_trip(const T& in) {
    const std::string bytes = encode(in);
    decode_result d = decode(bytes.data(), bytes.size());
    INFO(d.reason);
    REQUIRE(d.ok());
    REQUIRE(std::holds_alternative<T>(*d.value));
    return std::get<T>(*d.value);
}

change sample_change(std::uint64_t seq) {
    change c;
    c.epoch = 3;
    c.seq = seq;
    c.op = change_op::put;
    c.cls = change_class::config;
    c.key = "limit." + std::to_string(seq);
    c.value = std::string("\0binary\xff", 8);
    c.client_id = 0xDEADBEEFCAFEull;
    c.request_id = seq * 10;
    return c;
}

}  // namespace

TEST_CASE("codec: every command survives a round trip", "[codec]") {
    set_request s{42, 7, change_op::erase, change_class::config, "k", "v"};
    auto s2 = round_trip(s);
    REQUIRE(s2.request_id == 42);
    REQUIRE(s2.client_id == 7);
    REQUIRE(s2.op == change_op::erase);
    REQUIRE(s2.cls == change_class::config);
    REQUIRE(s2.key == "k");

    change_batch b{{sample_change(1), sample_change(2)}, 1};
    auto b2 = round_trip(b);
    REQUIRE(b2.changes == b.changes);
    REQUIRE(b2.commit_seq == 1);

    snapshot_end e{9, 2, 100, false, {{1, 2, 3, 4}, {5, 6, 7, 8}}};
    auto e2 = round_trip(e);
    REQUIRE(e2.requests == e.requests);
    REQUIRE(e2.seq == 100);

    heartbeat h{"B", 1, broker_state::handover, 5, 77, 4, "A"};
    auto h2 = round_trip(h);
    REQUIRE(h2.state == broker_state::handover);
    REQUIRE(h2.following == "A");

    error_reply er{3, error_code::config_refused, "why", "B", "A"};
    auto er2 = round_trip(er);
    REQUIRE(er2.code_value == error_code::config_refused);
    REQUIRE(er2.primary == "A");

    status_reply st;
    st.name = "C";
    st.state = broker_state::stalled;
    st.note = "waiting";
    REQUIRE(round_trip(st).note == "waiting");
    REQUIRE(round_trip(publish_request{1, 2, "sensors/a", std::string(100, 'x')}).payload.size() == 100);
    REQUIRE(round_trip(ack_reply{{1, 2, 3}, 4, 5}).request_ids.size() == 3);
    REQUIRE(round_trip(repl_hello{"A", 0, 1, 2, 3, {{1, 1, 2}}}).session == 3);
    REQUIRE(round_trip(handover_go{4, 5}).seq == 5);
    REQUIRE(round_trip(snapshot_request{1, 2, 3, true}).require_serving);
    REQUIRE(round_trip(value_reply{1, true, "v", change_class::operational, 2, 3}).found);
}

TEST_CASE("codec: a message without the signature and version is rejected", "[codec]") {
    auto r = decode(pack_envelope("XX", 1, 1).data(), pack_envelope("XX", 1, 1).size());
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error == error_code::bad_version);
    const std::string v2 = pack_envelope("SB", 2, 1);
    r = decode(v2.data(), v2.size());
    REQUIRE(r.error == error_code::bad_version);
    REQUIRE(decode("", 0).error == error_code::bad_request);
    const std::string garbage = "\xc1\xc1\xc1";
    REQUIRE_FALSE(decode(garbage.data(), garbage.size()).ok());
}

TEST_CASE("codec: unknown commands and wrong types are named in the error", "[codec]") {
    const std::string unknown = pack_envelope("SB", 1, 200);
    auto r = decode(unknown.data(), unknown.size());
    REQUIRE(r.error == error_code::unknown_command);

    msgpack::zone z;
    msgpack::object body(std::make_tuple(std::string("not an id"), 3.5), z);
    const std::string wrong = pack_envelope("SB", 1, static_cast<int>(command::set_request), &body);
    r = decode(wrong.data(), wrong.size());
    REQUIRE(r.error == error_code::bad_request);
    REQUIRE(r.reason.find("SET") != std::string::npos);
}

TEST_CASE("codec: limits and enum ranges are enforced after decoding", "[codec]") {
    set_request big{1, 1, change_op::put, change_class::operational, std::string(limits::max_key_bytes + 1, 'k'), ""};
    std::string bytes = encode(big);
    auto r = decode(bytes.data(), bytes.size());
    REQUIRE(r.error == error_code::too_large);
    REQUIRE(r.request_id == 1);  // so that the error reply reaches the right request

    set_request empty{2, 1, change_op::put, change_class::operational, "", "v"};
    bytes = encode(empty);
    REQUIRE(decode(bytes.data(), bytes.size()).error == error_code::bad_request);

    heartbeat h{"A", 0, static_cast<broker_state>(42), 1, 1, 1, ""};
    bytes = encode(h);
    REQUIRE(decode(bytes.data(), bytes.size()).error == error_code::bad_request);

    set_request bad_class{3, 1, change_op::put, static_cast<change_class>(9), "k", "v"};
    bytes = encode(bad_class);
    REQUIRE(decode(bytes.data(), bytes.size()).error == error_code::bad_request);
}

TEST_CASE("codec: random bytes and truncated messages never crash the decoder", "[codec]") {
    std::mt19937 rng(12345);  // fixed seed: reproducible
    const std::string valid = encode(change_batch{{sample_change(1), sample_change(2)}, 2});
    for (std::size_t cut = 0; cut < valid.size(); ++cut) REQUIRE_FALSE(decode(valid.data(), cut).ok());
    for (int i = 0; i < 2000; ++i) {
        std::string bytes = valid;
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
        (void)decode(bytes.data(), bytes.size());  // must not throw or crash; may or may not decode
        std::string noise(rng() % 64, '\0');
        for (auto& ch : noise) ch = static_cast<char>(rng());
        (void)decode(noise.data(), noise.size());
    }
    SUCCEED("no crash, no exception");
}

TEST_CASE("codec: the file commands survive a round trip", "[codec]") {
    const std::string hash(64, 'a'), xxh(32, 'b');
    auto l = round_trip(file_list_request{5, "dir/", 10});
    CHECK(l.from == "dir/");
    CHECK(l.limit == 10);
    file_list_reply lr{5, 2, 30, {file_entry{"dir/x", 9, hash, 2, 29, xxh}}, "dir/y"};
    auto lr2 = round_trip(lr);
    REQUIRE(lr2.entries.size() == 1);
    CHECK(lr2.entries[0] == lr.entries[0]);
    CHECK(lr2.next == "dir/y");
    auto f = round_trip(fetch_request{6, "dir/x", hash, 4096, 4096});
    CHECK(f.offset == 4096);
    file_chunk c{7, "dir/x", hash, 0, 99, {'h', 'i'}};
    auto c2 = round_trip(c);
    CHECK(c2.data == c.data);
    CHECK(c2.checksum == 99);
    auto p = round_trip(file_put_request{8, 9, "dir/x", 9, hash, xxh});
    CHECK(p.xxh == xxh);
    auto r = round_trip(file_remove_request{10, 11, "dir/x"});
    CHECK(r.path == "dir/x");
    auto st = round_trip(status_reply{1, "A", 0, broker_state::passive, 1, 2, 3, 4, "A", "", 5, 6});
    CHECK(st.pending_files == 5);
    CHECK(st.pending_bytes == 6);
}

TEST_CASE("codec: file commands with hostile paths, digests or lengths are refused", "[codec]") {
    const std::string hash(64, 'a'), xxh(32, 'b');
    const auto refused = [](const message& m) {
        const std::string bytes = encode(m);
        return decode(bytes.data(), bytes.size());
    };
    for (const std::string bad : {"../etc/passwd", "/abs", "a/../b", "a//b", "", "a\\b", ".starbus-tmp/x", "c:x"}) {
        INFO("path " << bad);
        CHECK_FALSE(refused(fetch_request{1, bad, hash, 0, 1}).ok());
        CHECK_FALSE(refused(file_put_request{1, 1, bad, 1, hash, xxh}).ok());
        CHECK_FALSE(refused(file_remove_request{1, 1, bad}).ok());
    }
    auto big = refused(fetch_request{1, "x", hash, 0, limits::max_chunk_bytes + 1});
    CHECK(big.error == error_code::too_large);
    CHECK(big.request_id == 1);
    CHECK_FALSE(refused(fetch_request{1, "x", hash, 0, 0}).ok());
    CHECK_FALSE(refused(fetch_request{1, "x", hash, ~std::uint64_t{0}, 10}).ok());
    CHECK_FALSE(refused(fetch_request{1, "x", "ABC", 0, 1}).ok());
    CHECK_FALSE(refused(file_put_request{1, 1, "x", 1, hash, "nothex"}).ok());
    // A file change in a replicated batch must be a config change with well-formed metadata.
    change fc = file_put_change(file_entry{"x", 1, hash, 1, 1, xxh});
    fc.seq = 1;
    CHECK(refused(change_batch{{fc}, 0}).ok());
    change op_class = fc;
    op_class.cls = change_class::operational;
    CHECK_FALSE(refused(change_batch{{op_class}, 0}).ok());
    change bad_meta = fc;
    bad_meta.value = "x";
    CHECK_FALSE(refused(change_batch{{bad_meta}, 0}).ok());
    change unknown_op = fc;
    unknown_op.op = static_cast<change_op>(9);
    CHECK_FALSE(refused(change_batch{{unknown_op}, 0}).ok());
}

TEST_CASE("codec: a CHUNK is built in place and read without copying its data", "[codec]") {
    const std::string hash(64, 'c');
    const std::string data = "the bytes of one chunk";
    const file_chunk_view header{42, "dir/f", hash, 8192, 0, {}};
    auto frame = encode_chunk_frame(header, data.size(), [&](char* dst) -> std::optional<std::uint64_t> {
        std::memcpy(dst, data.data(), data.size());
        return chunk_checksum(dst, data.size());
    });
    REQUIRE(frame);
    CHECK(peek_command(frame->data(), frame->size()) == command::file_chunk);
    auto v = decode_chunk_view(*frame);
    REQUIRE(v);
    CHECK(v->request_id == 42);
    CHECK(v->path == "dir/f");
    CHECK(v->offset == 8192);
    CHECK(v->data == data);
    CHECK(v->checksum == chunk_checksum(data.data(), data.size()));
    // The view points into the frame: no copy was made.
    CHECK(v->data.data() >= static_cast<const char*>(frame->data()));
    CHECK(v->data.data() < static_cast<const char*>(frame->data()) + frame->size());
    // The general decoder reads the same frame as the same message.
    auto d = decode(*frame);
    REQUIRE(d.ok());
    const auto& c = std::get<file_chunk>(*d.value);
    CHECK(std::string(c.data.begin(), c.data.end()) == data);
    CHECK(c.checksum == v->checksum);
    // A fill that cannot read makes no frame; a broken frame is refused with a reason.
    CHECK_FALSE(encode_chunk_frame(header, 10, [](char*) -> std::optional<std::uint64_t> { return std::nullopt; }));
    zmq::message_t cut(frame->data(), frame->size() - 3);
    std::string why;
    CHECK_FALSE(decode_chunk_view(cut, &why));
    CHECK(why.find("malformed CHUNK") != std::string::npos);
    const std::string other = encode(ping{1});
    CHECK(peek_command(other.data(), other.size()) == command::ping);
    CHECK_FALSE(peek_command("xyz", 3));
}

// protocol.md "Message envelope": a broker MUST NOT assert, crash or stop
// serving because of anything it received. A frame of a few bytes per level
// announcing a million elements at each of 32 levels made the unpacker reserve
// about 800 MB (found by tests/fuzz/fuzz_decode); it is refused up front now.
TEST_CASE("codec: a frame announcing more elements than it holds is refused before anything is allocated",
          "[codec]") {
    std::string bytes = "\x94\xa2SB\x01\x01";
    for (int level = 0; level < 32; ++level) bytes += std::string("\xdd\x00\x10\x00\x00", 5);  // array32 of 2^20
    auto r = decode(bytes.data(), bytes.size());
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error == error_code::bad_request);
    REQUIRE(r.reason.find("announces more elements") != std::string::npos);

    std::string deep = "\x94\xa2SB\x01\x01";
    deep += std::string(40, '\x91');  // fixarrays of one element, 40 deep
    deep += '\xc0';
    REQUIRE(decode(deep.data(), deep.size()).error == error_code::bad_request);

    // A frame that really holds what it announces still decodes.
    change_batch many;
    for (std::uint64_t i = 1; i <= 2000; ++i) many.changes.push_back(sample_change(i));
    const std::string ok = encode(many);
    REQUIRE(decode(ok.data(), ok.size()).ok());
}
