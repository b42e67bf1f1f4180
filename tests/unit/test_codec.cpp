// File: test_codec.cpp
// The envelope and every command: round trips, and rejection of whatever is
// not a well-formed starbus message (protocol.md "Message envelope": a
// message that does not start with the signature and version is rejected);
// the largest message of each kind a broker sends decodes.
#include <catch2/catch.hpp>

#include <random>

#include <cstring>

#include <starbus/wire/codec.hpp>
#include <starbus/files/fast_hash.hpp>
#include <starbus/wire/request_changes.hpp>

#include "largest_values.hpp"

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

    // STATUS-REPLY's release and libzmq: at most 64 bytes each (protocol.md "Limits").
    status_reply st;
    st.release = std::string(limits::max_name_bytes, 'r');
    st.libzmq = std::string(limits::max_name_bytes, 'z');
    bytes = encode(st);
    REQUIRE(decode(bytes.data(), bytes.size()).ok());
    st.libzmq += 'z';
    bytes = encode(st);
    auto long_libzmq = decode(bytes.data(), bytes.size());
    REQUIRE(long_libzmq.error == error_code::too_large);
    REQUIRE(long_libzmq.reason.find("libzmq") != std::string::npos);
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
    auto st = round_trip(status_reply{1, "A", 0, broker_state::passive, 1, 2, 3, 4, "A", "", 5, 6, "0.1.0", "4.3.4"});
    CHECK(st.pending_files == 5);
    CHECK(st.pending_bytes == 6);
    CHECK(st.release == "0.1.0");
    CHECK(st.libzmq == "4.3.4");
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

// ---------------------------------------------------------------------------
// The largest messages a broker sends. Every decoder limit must admit what the system itself produces
// (a snapshot decoder that took 16 epochs kept two brokers of a long chaos run from ever starting again).

namespace {

using starbus::test::widest;

// Encodes `m`, checks the frame is within limits::max_frame_bytes (else libzmq or decode() refuses it)
// and returns what decode() makes of it.
template <typename T>
T round_trip_within_frame(const T& m) {
    const std::string bytes = encode(m);
    INFO(to_string(T::code) << " of " << bytes.size() << " bytes");
    REQUIRE(static_cast<std::int64_t>(bytes.size()) <= limits::max_frame_bytes);
    return round_trip(m);
}

// The smallest change a broker sends (one byte of key, nothing else) with integers of the widest encoding:
// the most changes per byte.
change smallest_change(std::uint64_t seq) {
    change c = starbus::test::erase(widest - 1, seq, "k");
    c.client_id = widest;
    c.request_id = widest;
    c.time_ms = widest;
    return c;
}

change largest_change(std::uint64_t seq) {
    return starbus::test::put(widest - 1, seq, starbus::test::largest_key(), starbus::test::largest_value(), widest,
                              widest);
}

// broker_impl.hpp for_each_chunk: a CHANGES batch or snapshot part holds changes whose key + value + 48 add up to
// chunk_bytes (1 MiB), or one change alone when it is larger.
constexpr std::size_t broker_chunk_bytes = 1u << 20;
constexpr std::size_t chunk_estimate_overhead = 48;

}  // namespace

TEST_CASE("codec: SNAPSHOT-END with every remembered request and every epoch span decodes", "[codec][limits]") {
    snapshot_end end{.request_id = widest, .epoch = widest, .seq = widest, .is_delta = false};
    for (std::uint64_t i = 0; i < limits::remembered_requests; ++i)
        end.requests.push_back({widest - i, widest - i, widest, widest - i});
    for (std::uint64_t i = 0; i < limits::max_epoch_spans; ++i) end.epochs.push_back({widest - i, widest - i, widest});
    end.fork_known = true;
    end.fork_seq = widest;
    end.bus_dropped_through = widest;
    const auto got = round_trip_within_frame(end);
    CHECK(got.requests == end.requests);
    CHECK(got.epochs == end.epochs);
    CHECK(got.bus_dropped_through == widest);
}

TEST_CASE("codec: REPL-HELLO with every epoch span a history keeps decodes", "[codec][limits]") {
    repl_hello hello{std::string(limits::max_name_bytes, 'n'), 255, widest, widest, widest, {}};
    for (std::uint64_t i = 0; i < limits::max_epoch_spans; ++i) hello.epochs.push_back({widest - i, widest, widest});
    CHECK(round_trip_within_frame(hello).epochs == hello.epochs);
}

TEST_CASE("codec: the largest CHANGES batches and snapshot parts a broker cuts decode", "[codec][limits]") {
    SECTION("as many of the smallest changes as a chunk holds") {
        change_batch b;
        b.commit_seq = widest;
        const std::size_t count = broker_chunk_bytes / (1 + chunk_estimate_overhead) + 1;
        for (std::uint64_t i = 1; i <= count; ++i) b.changes.push_back(smallest_change(i));
        CHECK(round_trip_within_frame(b).changes == b.changes);
        snapshot_part part{widest, b.changes};
        CHECK(round_trip_within_frame(part).entries.size() == count);
    }
    SECTION("the largest change, alone, and a chunk's worth of others beside it") {
        change_batch b;
        b.changes.push_back(largest_change(1));
        CHECK(round_trip_within_frame(b).changes == b.changes);
        // for_each_chunk sends a chunk once the next change would not fit: up to 1 MiB, then one more.
        b.changes.push_back(largest_change(2));
        CHECK(round_trip_within_frame(b).changes.size() == 2);
    }
    SECTION("a file at the longest path, in a snapshot part") {
        snapshot_part part{widest,
                           {starbus::test::file_put(widest, widest, starbus::test::longest_path(), widest,
                                                    std::string(64, 'a'), std::string(32, 'b'))}};
        CHECK(round_trip_within_frame(part).entries == part.entries);
    }
}

TEST_CASE("codec: the largest BUS-BATCH, FILE-MANIFEST page and CHUNK decode", "[codec][limits]") {
    // bus_service.cpp: a batch stops once its topics and payloads pass 4 MiB, so it holds at most 4 MiB
    // plus one more message of the largest size.
    bus_batch bus{widest, {}, widest, widest, widest, widest};
    for (std::uint64_t i = 1; i <= 5; ++i) {
        change m = starbus::test::put(widest, i, std::string(limits::max_topic_bytes, 't'),
                                      std::string(limits::max_payload_bytes, 'p'), widest, widest);
        m.op = change_op::publish;
        bus.messages.push_back(std::move(m));
    }
    CHECK(round_trip_within_frame(bus).messages == bus.messages);

    file_list_reply page{widest, widest, widest, {}, starbus::test::longest_path()};
    for (std::uint32_t i = 0; i < limits::max_list_entries; ++i)
        page.entries.push_back(
            {starbus::test::longest_path(), widest, std::string(64, 'a'), widest, widest, std::string(32, 'b')});
    CHECK(round_trip_within_frame(page).entries == page.entries);

    const std::string path = starbus::test::longest_path();
    const std::string hash(64, 'c');
    const file_chunk_view header{widest, path, hash, widest - limits::max_chunk_bytes, 0, {}};
    auto frame = encode_chunk_frame(header, limits::max_chunk_bytes, [](char* dst) -> std::optional<std::uint64_t> {
        std::memset(dst, 'd', limits::max_chunk_bytes);
        return chunk_checksum(dst, limits::max_chunk_bytes);
    });
    REQUIRE(frame);
    REQUIRE(static_cast<std::int64_t>(frame->size()) <= limits::max_frame_bytes);
    std::string why;
    auto view = decode_chunk_view(*frame, &why);
    INFO(why);
    REQUIRE(view);
    CHECK(view->path == path);
    CHECK(view->data.size() == limits::max_chunk_bytes);
    auto d = decode(*frame);
    INFO(d.reason);
    REQUIRE(d.ok());
    CHECK(std::get<file_chunk>(*d.value).data.size() == limits::max_chunk_bytes);
}

TEST_CASE("codec: the largest key and value a client sets, and the reply that reads them back, decode",
          "[codec][limits]") {
    set_request set{widest,
                    widest,
                    change_op::put,
                    change_class::config,
                    starbus::test::largest_key(),
                    starbus::test::largest_value()};
    CHECK(round_trip_within_frame(set).value == set.value);
    value_reply reply{widest, true, starbus::test::largest_value(), change_class::config, widest, widest};
    CHECK(round_trip_within_frame(reply).value == reply.value);
    publish_request pub{widest, widest, std::string(limits::max_topic_bytes, 't'),
                        std::string(limits::max_payload_bytes, 'p')};
    CHECK(round_trip_within_frame(pub).payload == pub.payload);
}

// docs/protocol.md "Security": keys that begin with "$starbus/" are reserved; every replica refuses a change to
// one that is not a well-formed access entry ("$starbus/access/NAME", class config, "ROLE KEY" or "revoked").
TEST_CASE("codec: CHANGES and SNAPSHOT-PART refuse a change of a reserved key that is no well-formed access entry",
          "[codec][security]") {
    const std::string key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";  // a Z85 public key (RFC 26's example)
    const auto change_of = [](change_op op, change_class cls, std::string k, std::string v) {
        change c;
        c.epoch = 2;
        c.seq = 5;
        c.op = op;
        c.cls = cls;
        c.key = std::move(k);
        c.value = std::move(v);
        return c;
    };
    const auto in_changes = [](const change& c) {
        const std::string bytes = encode(change_batch{{c}, 0});
        return decode(bytes.data(), bytes.size());
    };
    const auto in_snapshot = [](const change& c) {
        const std::string bytes = encode(snapshot_part{1, {c}});
        return decode(bytes.data(), bytes.size());
    };

    // Accepted: grants, a revocation, the erase of any reserved key (of either class: one a cluster held before
    // the rule must be removable), and any key outside "$starbus/".
    for (const change& good : {
             change_of(change_op::put, change_class::config, "$starbus/access/writer-1", "writer " + key),
             change_of(change_op::put, change_class::config, "$starbus/access/a", "revoked"),
             change_of(change_op::erase, change_class::config, "$starbus/access/a", ""),
             change_of(change_op::erase, change_class::config, "$starbus/other", ""),
             change_of(change_op::erase, change_class::operational, "$starbus/access/a", ""),
             change_of(change_op::put, change_class::operational, "starbus/access/x", "anything"),
             change_of(change_op::put, change_class::operational, "x$starbus/", "anything"),
         }) {
        INFO(good.key << " = " << good.value);
        CHECK(check_change(good).ok());
        auto d = in_changes(good);
        INFO(d.reason);
        CHECK(d.ok());
        CHECK(in_snapshot(good).ok());
    }
    // Refused, as BAD_REQUEST, whichever carrier brings them.
    for (const change& bad : {
             change_of(change_op::put, change_class::config, "$starbus/other", "x"),
             change_of(change_op::put, change_class::config, "$starbus/", "x"),
             change_of(change_op::put, change_class::operational, "$starbus/access/a", "writer " + key),
             change_of(change_op::put, change_class::config, "$starbus/access/", "writer " + key),
             change_of(change_op::put, change_class::config, "$starbus/access/a b", "writer " + key),
             change_of(change_op::put, change_class::config, "$starbus/access/a", "writer"),
             change_of(change_op::put, change_class::config, "$starbus/access/a", "boss " + key),
             change_of(change_op::put, change_class::config, "$starbus/access/a", "writer " + key.substr(0, 39)),
             change_of(change_op::put, change_class::config, "$starbus/access/a", "writer " + key + " "),
             change_of(change_op::put, change_class::config, "$starbus/access/a", ""),
         }) {
        INFO(bad.key << " = " << bad.value << " (" << to_string(bad.cls) << ")");
        CHECK_FALSE(check_change(bad).ok());
        auto d = in_changes(bad);
        CHECK_FALSE(d.ok());
        CHECK(d.error == error_code::bad_request);
        CHECK_FALSE(d.reason.empty());
        CHECK(in_snapshot(bad).error == error_code::bad_request);
    }
}

// The SET validator applies the reserved-key rule too: protocol.md "Valid changes" and
// tests/fuzz/fuzz_decode.cpp hold that the change of every accepted write request is a valid change, so decode()
// and check_change() must agree.
TEST_CASE("codec: a SET that breaks the reserved-key rule is refused by decode as BAD_REQUEST",
          "[codec][security]") {
    const std::string key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const auto decoded = [](const set_request& s) {
        const std::string bytes = encode(s);
        return decode(bytes.data(), bytes.size());
    };
    auto good = decoded(set_request{1, 7, change_op::put, change_class::config, "$starbus/access/a", "admin " + key});
    INFO(good.reason);
    CHECK(good.ok());
    for (const set_request& bad : {
             set_request{2, 7, change_op::put, change_class::config, "$starbus/access/a", "admin"},
             set_request{3, 7, change_op::put, change_class::config, "$starbus/access/a", "boss " + key},
             set_request{4, 7, change_op::put, change_class::operational, "$starbus/access/a", "admin " + key},
             set_request{5, 7, change_op::put, change_class::config, "$starbus/elsewhere", "x"},
             set_request{6, 7, change_op::put, change_class::config, "$starbus/access/../x", "revoked"},
         }) {
        INFO(bad.key << " = " << bad.value);
        REQUIRE_FALSE(check_change(change_for(bad)).ok());  // the rule the replicas apply
        auto d = decoded(bad);
        CHECK_FALSE(d.ok());
        CHECK(d.error == error_code::bad_request);
        CHECK(d.request_id == bad.request_id);
    }
}

TEST_CASE("codec: ERROR code 11 is NOT_AUTHORISED and 12 is unknown", "[codec][security]") {
    CHECK(error_code_max == 11);
    CHECK(static_cast<int>(error_code::not_authorised) == 11);
    CHECK(to_string(error_code::not_authorised) == "NOT_AUTHORISED");
    error_reply e{9, error_code::not_authorised, "broker A refused key r: role reader may not publish", "A", "A"};
    const std::string bytes = encode(e);
    auto d = decode(bytes.data(), bytes.size());
    INFO(d.reason);
    REQUIRE(d.ok());
    CHECK(std::get<error_reply>(*d.value).code_value == error_code::not_authorised);
    CHECK(std::get<error_reply>(*d.value).text == e.text);

    error_reply beyond{9, static_cast<error_code>(12), "?", "", ""};
    const std::string b = encode(beyond);
    auto r = decode(b.data(), b.size());
    CHECK_FALSE(r.ok());
    CHECK(r.error == error_code::bad_request);
    CHECK_THAT(r.reason, Catch::Contains("12"));
}

TEST_CASE("codec: a publisher's PUBLISH and PUBLISH-MANY are the bytes encode() makes of them", "[codec]") {
    // The client encodes each PUBLISH from views, and batches them into PUBLISH-MANY without decoding them:
    // what goes out must be exactly the command docs/protocol.md defines.
    const std::string payload(300, 'p');
    CHECK(encode_publish(7, 0xfedcba9876543210ull, "t/a", payload) ==
          encode(publish_request{7, 0xfedcba9876543210ull, "t/a", payload}));
    CHECK(encode_publish(1, 2, "t", "") == encode(publish_request{1, 2, "t", ""}));
    const std::string big(70000, 'b');  // str32 header for the payload
    CHECK(encode_publish(1u << 20, 2, std::string(300, 't'), big) ==
          encode(publish_request{1u << 20, 2, std::string(300, 't'), big}));

    const std::vector<publish_request> publishes{{10, 5, "a", "one"}, {11, 5, "b", payload}, {12, 5, "a", ""}};
    std::vector<std::string> frames;
    for (const auto& p : publishes) frames.push_back(encode_publish(p.request_id, p.client_id, p.topic, p.payload));
    const std::vector<std::string_view> views(frames.begin(), frames.end());
    const auto many = encode_publish_many(10, views);
    REQUIRE(many.has_value());
    CHECK(*many == encode(publish_many_request{10, publishes}));
    decode_result d = decode(many->data(), many->size());
    REQUIRE(d.ok());
    const auto& m = std::get<publish_many_request>(*d.value);
    REQUIRE(m.publishes.size() == 3);
    CHECK(m.publishes[1].payload == payload);
    CHECK(d.request_id == 10);

    // Only PUBLISH envelopes can be batched.
    const std::string set = encode(set_request{13, 5, change_op::put, change_class::operational, "k", "v"});
    CHECK_FALSE(encode_publish_many(10, {views[0], set}).has_value());
}

TEST_CASE("codec: PUBLISH-MANY is refused as a whole when empty, too long, misaddressed or carrying a bad publish",
          "[codec]") {
    const auto verdict = [](const publish_many_request& m) {
        const std::string f = encode(m);
        return decode(f.data(), f.size());
    };
    CHECK(verdict(publish_many_request{1, {}}).reason == "PUBLISH-MANY carries no publish");
    CHECK(verdict(publish_many_request{2, {{1, 5, "t", "x"}}}).error == error_code::bad_request);
    auto d = verdict(publish_many_request{1, {{1, 5, "t", "x"}, {2, 5, "", "x"}}});
    CHECK(d.error == error_code::bad_request);
    CHECK(d.request_id == 1);
    d = verdict(publish_many_request{1, {{1, 5, "t", "x"}, {2, 5, std::string(1025, 't'), "x"}}});
    CHECK(d.error == error_code::too_large);
    std::vector<publish_request> many(limits::max_requests_per_many + 1, publish_request{0, 5, "t", ""});
    for (std::size_t i = 0; i < many.size(); ++i) many[i].request_id = i + 1;
    CHECK(verdict(publish_many_request{1, many}).error == error_code::too_large);
    many.pop_back();
    CHECK(verdict(publish_many_request{1, many}).ok());  // the limit itself is admitted
}

TEST_CASE("codec: a BUS-BATCH encoded from the bus log is the bus_batch it stands for", "[codec]") {
    change a = sample_change(3);
    a.op = change_op::publish;
    change b = sample_change(4);
    b.op = change_op::publish;
    bus_batch_view v{9, {&a, &b}, 1, 4, 2, 2};
    const zmq::message_t f = encode_frame(v);
    CHECK(f.to_string() == encode(bus_batch{9, {a, b}, 1, 4, 2, 2}));
}

TEST_CASE("codec: PUBLISH-MANY read in place accepts and refuses exactly what decode() does", "[codec]") {
    // `same_id`: the ERROR is addressed alike (for damaged bytes both refuse, but where each parser stops
    // reading decides whether it learnt the request_id: best effort on both sides).
    const auto both = [](const std::string& f, bool same_id = true) {
        const zmq::message_t frame(f.data(), f.size());
        std::vector<publish_view> views;
        std::uint64_t id = 0;
        const field_verdict v = decode_publish_many_view(frame, views, id);
        const decode_result d = decode(f.data(), f.size());
        INFO(v.why << " / " << d.reason);
        CHECK(v.ok() == d.ok());
        if (!v.ok()) {
            CHECK(v.code == d.error);
            if (same_id) CHECK(id == d.request_id);
        }
        return views;
    };
    const std::string payload(2000, 'p');
    auto views = both(encode(publish_many_request{5, {{5, 9, "a", "x"}, {6, 9, "b/c", payload}}}));
    REQUIRE(views.size() == 2);
    CHECK(views[1].request_id == 6);
    CHECK(views[1].client_id == 9);
    CHECK(views[1].topic == "b/c");
    CHECK(views[1].payload == payload);
    both(encode(publish_many_request{5, {}}));
    both(encode(publish_many_request{4, {{5, 9, "a", "x"}}}));
    both(encode(publish_many_request{5, {{5, 9, "", "x"}}}));
    both(encode(publish_many_request{5, {{5, 9, std::string(1025, 't'), "x"}}}));
    both(encode(publish_many_request{5, {{5, 9, "t", std::string(limits::max_payload_bytes + 1, 'x')}}}));
    // Wrong types inside, truncations, and random bytes after a valid head.
    const std::string good = encode(publish_many_request{5, {{5, 9, "a", "x"}, {6, 9, "b", "y"}}});
    for (std::size_t cut = 7; cut < good.size(); ++cut) both(good.substr(0, cut), false);
    std::mt19937 rng(3);
    for (int i = 0; i < 2000; ++i) {
        std::string f = good;
        f[7 + rng() % (f.size() - 7)] = static_cast<char>(rng());
        both(f, false);
    }
}

TEST_CASE("codec: SET-MANY from SET frames, and its refusals as a whole", "[codec]") {
    const std::vector<set_request> sets{{20, 5, change_op::put, change_class::operational, "k1", "v"},
                                        {21, 5, change_op::erase, change_class::config, "k2", ""}};
    std::vector<std::string> frames;
    for (const auto& s : sets) frames.push_back(encode(s));
    const auto many = encode_many(command::set_request, 20, {frames[0], frames[1]});
    REQUIRE(many.has_value());
    CHECK(*many == encode(set_many_request{20, sets}));
    CHECK_FALSE(encode_many(command::set_request, 20, {frames[0], encode(publish_request{21, 5, "t", ""})}));
    CHECK_FALSE(encode_many(command::get_request, 20, {encode(get_request{20, "k"})}));

    const auto verdict = [](const set_many_request& m) {
        const std::string f = encode(m);
        return decode(f.data(), f.size());
    };
    CHECK(verdict(set_many_request{20, sets}).ok());
    CHECK(verdict(set_many_request{1, {}}).error == error_code::bad_request);
    CHECK(verdict(set_many_request{19, sets}).error == error_code::bad_request);
    auto bad = sets;
    bad[1].key = std::string(1025, 'k');
    CHECK(verdict(set_many_request{20, bad}).error == error_code::too_large);
    bad = sets;
    bad[1].op = static_cast<change_op>(3);  // a file op is not a SET's
    const auto d = verdict(set_many_request{20, bad});
    CHECK(d.error == error_code::bad_request);
    CHECK(d.request_id == 20);
}
