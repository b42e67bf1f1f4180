// File: test_spec.cpp
// docs/protocol.md clause by clause, against a real broker and below the
// client library (raw DEALER, SUB and XSUB peers), as a second client written
// from the spec alone would talk to it. Each case quotes the MUST/SHALL it
// checks (libzmq's tests/test_spec_router.cpp does the same for ZMTP).
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/wire/codec.hpp>
#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"
#include "testutil.hpp"

using namespace std::chrono_literals;
using starbus::test::ask;
using starbus::test::endpoint_of;
using starbus::test::error_of;
using starbus::test::port_plus;
using starbus::test::raw_dealer;
using starbus::test::test_cluster;

namespace {

// The next message on `s`, decoded (nullopt: nothing within `timeout`, or not decodable).
std::optional<starbus::message> next_message(zmq::socket_t& s, std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t frame;
    (void)s.recv(frame);
    auto d = starbus::decode(frame);
    if (!d.ok()) return std::nullopt;
    return *d.value;
}

void send(zmq::socket_t& s, const starbus::message& m) { s.send(zmq::buffer(starbus::encode(m))); }

// Whether every request_id of `ids` is answered by an ACK on `s` (one ACK may cover several), nothing else
// arriving first.
bool acked(zmq::socket_t& s, std::set<std::uint64_t> ids) {
    while (!ids.empty()) {
        auto m = next_message(s, std::chrono::milliseconds(5000));
        if (!m) return false;
        const auto* a = std::get_if<starbus::ack_reply>(&*m);
        if (!a) return false;
        for (auto id : a->request_ids) ids.erase(id);
    }
    return true;
}

// An envelope whose command code is `code` (packed as given: any MessagePack type), with body [request_id].
template <typename Code>
std::string envelope_with_code(const Code& code, std::uint64_t request_id) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(4);
    pk.pack(std::string("SB"));
    pk.pack(1);
    pk.pack(code);
    pk.pack_array(1);
    pk.pack(request_id);
    return std::string(b.data(), b.size());
}

}  // namespace

TEST_CASE("spec: FORCE sent to the serving broker is answered ACK and changes nothing", "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));
    auto before = ask(s, starbus::encode(starbus::status_request{1}));
    REQUIRE(before);
    const auto& was = std::get<starbus::status_reply>(*before);

    // "A broker that already serves (state active or handover) SHALL answer ACK with its position and change
    // nothing: the force event is ignored there."
    auto answer = ask(s, starbus::encode(starbus::force_request{7}));
    REQUIRE(answer);
    const auto* ack = std::get_if<starbus::ack_reply>(&*answer);
    REQUIRE(ack != nullptr);
    CHECK(ack->request_ids == std::vector<std::uint64_t>{7});
    CHECK(ack->seq == was.seq);

    auto after = ask(s, starbus::encode(starbus::status_request{2}));
    REQUIRE(after);
    const auto& now = std::get<starbus::status_reply>(*after);
    CHECK(now.state == starbus::broker_state::active);
    CHECK(now.epoch == was.epoch);  // no new epoch: no takeover happened
    CHECK(now.seq == was.seq);
}

TEST_CASE("spec: a multi-frame message and command codes 0 and 256 and above get an ERROR, never silence",
          "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));

    // "A message of more than one frame on the request port SHALL be answered with one ERROR BAD_REQUEST,
    // carrying the request_id of its first frame when that frame is an envelope whose body starts with one
    // (else 0); the broker SHALL NOT act on any of its frames."
    for (int frames : {2, 3}) {
        INFO(frames << " frames");
        const std::string first = starbus::encode(
            starbus::set_request{55, 9, starbus::change_op::put, starbus::change_class::operational, "multi", "frame"});
        s.send(zmq::buffer(first), zmq::send_flags::sndmore);
        for (int i = 1; i < frames; ++i)
            s.send(zmq::buffer(std::string("extra")),
                   i + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::none);
        auto reply = next_message(s, 3000ms);
        CHECK(error_of(reply) == starbus::error_code::bad_request);
        CHECK(std::get<starbus::error_reply>(*reply).request_id == 55);
    }
    CHECK(c.cli({"get", "multi"}).exit_code != 0);  // the SET in the first frame was not applied

    // "A code that is not an unsigned integer naming a command this broker knows (0, and 256 or more,
    // included) SHALL be answered ERROR UNKNOWN_COMMAND, with the request_id read from the body."
    for (std::uint64_t code : {std::uint64_t{0}, std::uint64_t{256}, std::uint64_t{1} << 40}) {
        INFO("code " << code);
        auto reply = ask(s, envelope_with_code(code, 77));
        CHECK(error_of(reply) == starbus::error_code::unknown_command);
        CHECK(std::get<starbus::error_reply>(*reply).request_id == 77);
    }
    {
        auto reply = ask(s, envelope_with_code(-1, 78));
        CHECK(error_of(reply) == starbus::error_code::unknown_command);
        CHECK(std::get<starbus::error_reply>(*reply).request_id == 78);
    }
    {
        auto reply = ask(s, envelope_with_code(std::string("SET"), 79));
        CHECK(error_of(reply) == starbus::error_code::unknown_command);
    }
    REQUIRE(c.running(0));
    CHECK(c.cli({"set", "still", "serving"}).exit_code == 0);
}

TEST_CASE(
    "spec: the publish port is an XPUB: a raw subscriber gets committed bus messages, nothing it sends "
    "is answered",
    "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    const std::string request_port = endpoint_of(c.cluster_file());
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, request_port);
    zmq::socket_t sub(ctx, zmq::socket_type::xsub);
    sub.set(zmq::sockopt::linger, 0);
    sub.connect(port_plus(request_port, 1));

    // "Anything else a peer sends to the publish port (a message that is not a subscription, or one of
    // several frames) SHALL be ignored: it has nobody to answer."
    sub.send(zmq::buffer(std::string("\x07not a subscription")));
    sub.send(zmq::buffer(std::string("\x01Bspec")), zmq::send_flags::sndmore);
    sub.send(zmq::buffer(std::string("trailing frame")));
    sub.send(zmq::buffer(std::string("")));
    // "A peer MAY subscribe (a frame of byte 1 then the prefix) ... to "B"+t for bus messages of topics that
    // start with t."
    sub.send(
        zmq::buffer(std::string("\x01"
                                "Bspec.")));

    // A subscription takes effect once the broker has read it: publish until one arrives.
    std::optional<std::pair<std::string, std::string>> got;
    REQUIRE(starbus::test::wait_until(
        [&] {
            static std::uint64_t id = 100;
            auto r = ask(s, starbus::encode(starbus::publish_request{++id, 9, "spec.t", "hello"}));
            if (!r || !std::get_if<starbus::ack_reply>(&*r)) return false;
            zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
            if (zmq::poll(&item, 1, 200ms) == 0) return false;
            zmq::message_t head, body;
            (void)sub.recv(head);
            REQUIRE(head.more());
            (void)sub.recv(body);
            got.emplace(head.to_string(), body.to_string());
            return true;
        },
        10s, 10ms));
    // "On the publish port, every message has two frames ... "B" followed by the topic ... the payload."
    CHECK(got->first == "Bspec.t");
    CHECK(got->second == "hello");
    REQUIRE(c.running(0));
}

TEST_CASE("spec: a broker answers PING at once while it holds a BUS-FETCH of the same peer", "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));
    starbus::bus_fetch_request f;
    f.request_id = 300;
    f.client_id = 9;
    f.wait_ms = 2000;
    f.start = starbus::bus_start::latest;
    f.prefixes = {"nobody.publishes.this"};
    send(s, f);

    // "While it holds a fetch, a broker SHALL answer every other request of the same peer (PING included) as
    // if none were held: a held fetch is the only request whose answer may take longer than the per-attempt
    // timeout, and a client tells a held fetch from a dead server by its PINGs."
    const auto sent = std::chrono::steady_clock::now();
    send(s, starbus::ping{9});
    auto first = next_message(s, 1500ms);
    REQUIRE(first);
    CHECK(std::get_if<starbus::pong>(&*first) != nullptr);
    CHECK(std::chrono::steady_clock::now() - sent < 1000ms);
    auto held = next_message(s, 5000ms);
    REQUIRE(held);
    const auto* batch = std::get_if<starbus::bus_batch>(&*held);
    REQUIRE(batch != nullptr);
    CHECK(batch->request_id == 300);
    CHECK(batch->messages.empty());
}

TEST_CASE(
    "spec: an upload whose content does not match its digests is fetched twice, then refused with "
    "BAD_REQUEST",
    "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));

    const std::string declared(1000, 'd');  // what FILE-PUT says the file holds
    const std::string sent(1000, 's');      // what the client really sends (each chunk's checksum is right)
    const std::string hash = starbus::hash_bytes(declared);
    send(s, starbus::file_put_request{400, 9, "liar.bin", declared.size(), hash, starbus::xxh128_bytes(declared)});

    // "The server SHALL fetch the whole content again once when it does not match the digests FILE-PUT
    // declared (two attempts in all), then answer ERROR BAD_REQUEST and install nothing."
    int whole_passes = 0;
    std::optional<starbus::error_reply> refusal;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!refusal && std::chrono::steady_clock::now() < deadline) {
        auto m = next_message(s, 3000ms);
        REQUIRE(m);
        if (const auto* e = std::get_if<starbus::error_reply>(&*m)) {
            refusal = *e;
        } else if (const auto* fetch = std::get_if<starbus::fetch_request>(&*m)) {
            if (fetch->offset == 0) ++whole_passes;
            REQUIRE(fetch->offset + fetch->length <= sent.size());
            const starbus::file_chunk_view header{fetch->request_id, fetch->path, fetch->hash, fetch->offset, 0, {}};
            auto chunk =
                starbus::encode_chunk_frame(header, fetch->length, [&](char* d) -> std::optional<std::uint64_t> {
                    std::memcpy(d, sent.data() + fetch->offset, fetch->length);
                    return starbus::chunk_checksum(d, fetch->length);
                });
            REQUIRE(chunk);
            s.send(*chunk, zmq::send_flags::none);
        }
    }
    REQUIRE(refusal);
    CHECK(refusal->request_id == 400);
    CHECK(refusal->code_value == starbus::error_code::bad_request);
    CHECK(refusal->text.find("does not match") != std::string::npos);
    CHECK(whole_passes == 2);
    auto ls = c.cli({"ls"});
    CHECK(ls.out.find("liar.bin") ==
          std::string::npos);  // "A version that does not match its digests is never installed."
    REQUIRE(c.running(0));
}

TEST_CASE(
    "spec: PONG echoes its PING's request_id and delta CHANGES carry their SNAPSHOT's, so pipelined "
    "requests can be matched",
    "[integration][spec]") {
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    for (const char* k : {"k1", "k2", "k3"}) REQUIRE(c.cli({"set", k, "v"}).exit_code == 0);
    const std::string request_port = endpoint_of(c.cluster_file());
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, request_port);
    auto k1 = ask(s, starbus::encode(starbus::get_request{1, "k1"}));
    REQUIRE(k1);
    const auto& at = std::get<starbus::value_reply>(*k1);
    REQUIRE(at.found);

    // Pipelined: two PINGs and two SNAPSHOTs asking for the same delta, sent before any answer is read.
    send(s, starbus::ping{9, 101});
    send(s, starbus::ping{9, 102});
    send(s, starbus::snapshot_request{201, at.epoch, at.seq, true});
    send(s, starbus::snapshot_request{202, at.epoch, at.seq, true});
    std::multiset<std::uint64_t> pongs, ends;
    std::map<std::uint64_t, std::size_t> changes_per_request;
    while (pongs.size() < 2 || ends.size() < 2) {
        auto m = next_message(s, 3000ms);
        REQUIRE(m);
        if (const auto* p = std::get_if<starbus::pong>(&*m)) {
            pongs.insert(p->request_id);
        } else if (const auto* b = std::get_if<starbus::change_batch>(&*m)) {
            changes_per_request[b->request_id] += b->changes.size();
        } else if (const auto* e = std::get_if<starbus::snapshot_end>(&*m)) {
            CHECK(e->is_delta);
            ends.insert(e->request_id);
        }
    }
    // "A broker SHALL answer PONG in every state, with the PING's request_id."
    CHECK(pongs == std::multiset<std::uint64_t>{101, 102});
    CHECK(ends == std::multiset<std::uint64_t>{201, 202});
    // "In a delta, the request_id of the SNAPSHOT-END that ends it: the SNAPSHOT's request_id"
    CHECK(changes_per_request == std::map<std::uint64_t, std::size_t>{{201, 2}, {202, 2}});

    // "0 from a sender of an earlier draft, which did not send it": a PING of one field is answered, with 0.
    {
        msgpack::sbuffer b;
        msgpack::packer<msgpack::sbuffer> pk(b);
        pk.pack_array(4);
        pk.pack(std::string("SB"));
        pk.pack(1);
        pk.pack(static_cast<int>(starbus::command::ping));
        pk.pack_array(1);
        pk.pack(9);
        auto old = ask(s, std::string(b.data(), b.size()));
        REQUIRE(old);
        REQUIRE(std::get_if<starbus::pong>(&*old) != nullptr);
        CHECK(std::get<starbus::pong>(*old).request_id == 0);
    }

    // "0 for the live stream: ... every CHANGES on the publish port."
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::subscribe, "K");
    sub.connect(port_plus(request_port, 1));
    std::optional<starbus::change_batch> published;
    REQUIRE(starbus::test::wait_until(
        [&] {
            REQUIRE(c.cli({"set", "k4", "v"}).exit_code == 0);
            zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
            if (zmq::poll(&item, 1, 200ms) == 0) return false;
            zmq::message_t head, body;
            (void)sub.recv(head);
            (void)sub.recv(body);
            auto d = starbus::decode(body);
            REQUIRE(d.ok());
            published = std::get<starbus::change_batch>(*d.value);
            return true;
        },
        10s, 10ms));
    CHECK(published->request_id == 0);
}

TEST_CASE("spec: a subscriber whose BUS-FETCH is held longer than its attempt timeout keeps its server",
          "[integration][spec]") {
    test_cluster c(1);  // heartbeat 50 ms: the client's attempt timeout is 250 ms, its fetches are held 1000 ms
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    auto opts = starbus::test::client_options_for(c);
    REQUIRE(opts.effective_attempt_timeout() < 1000ms);
    starbus::client sub(opts);
    int lost = 0;
    sub.on_event([&](const starbus::client_event& e) {
        if (std::holds_alternative<starbus::server_lost>(e)) ++lost;
    });
    sub.subscribe("nobody.publishes.this/");
    // "A client SHALL therefore judge its broker by the traffic it receives, of any kind, and not by the age of
    // its oldest unanswered request ... it SHALL declare the broker dead only when nothing at all has arrived
    // for a whole per-attempt timeout."
    CHECK_FALSE(sub.next_message(3000ms));
    CHECK(lost == 0);
    REQUIRE(sub.server());
    CHECK(sub.server()->name == "A");
}

TEST_CASE("spec: PUBLISH-MANY is handled as its publishes one by one, and an invalid one refuses the whole frame",
          "[integration][spec]") {
    // docs/protocol.md "PUBLISH-MANY (52)", on a broker with a bus log (the default).
    using starbus::publish_many_request;
    using starbus::publish_request;
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));
    const std::uint64_t client_id = 77;
    const auto fetch_all = [&] {
        starbus::bus_fetch_request f;
        f.request_id = 999;
        f.client_id = client_id;
        f.start = starbus::bus_start::oldest;
        auto m = ask(s, starbus::encode(f));
        REQUIRE(m.has_value());
        const auto* b = std::get_if<starbus::bus_batch>(&*m);
        REQUIRE(b != nullptr);
        return b->messages;
    };

    publish_many_request many{201, {publish_request{201, client_id, "spec.a", "one"},
                                    publish_request{202, client_id, "spec.b", "two"},
                                    publish_request{203, client_id, "spec.a", ""}}};
    send(s, many);
    REQUIRE(acked(s, {201, 202, 203}));
    // Sent again (a retry after a failover): answered again, applied once.
    send(s, many);
    REQUIRE(acked(s, {201, 202, 203}));
    auto log = fetch_all();
    REQUIRE(log.size() == 3);
    CHECK(log[0].key == "spec.a");
    CHECK(log[0].value == "one");
    CHECK(log[1].key == "spec.b");
    CHECK(log[2].value == "");
    CHECK(log[0].seq < log[1].seq);
    CHECK(log[1].seq < log[2].seq);

    // One invalid publish (an empty topic) refuses the whole frame, addressed to its first request_id.
    publish_many_request bad{301, {publish_request{301, client_id, "spec.c", "three"},
                                   publish_request{302, client_id, "", "four"}}};
    auto m = ask(s, starbus::encode(bad));
    REQUIRE(error_of(m) == starbus::error_code::bad_request);
    CHECK(std::get<starbus::error_reply>(*m).request_id == 301);
    // A request_id that is not the first publish's, and an empty frame, are refused the same way.
    bad = publish_many_request{400, {publish_request{401, client_id, "spec.c", "x"}}};
    CHECK(error_of(ask(s, starbus::encode(bad))) == starbus::error_code::bad_request);
    CHECK(error_of(ask(s, starbus::encode(publish_many_request{500, {}}))) == starbus::error_code::bad_request);
    CHECK(fetch_all().size() == 3);  // none of them was applied
    REQUIRE(c.running(0));
}

TEST_CASE("spec: SET-MANY applies its SETs one by one, each answered, and refuses an invalid one as a whole",
          "[integration][spec]") {
    // docs/protocol.md "SET-MANY (53)".
    using starbus::set_many_request;
    using starbus::set_request;
    test_cluster c(1);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    zmq::context_t ctx;
    auto s = raw_dealer(ctx, endpoint_of(c.cluster_file()));
    const auto op = starbus::change_op::put;
    const auto cls = starbus::change_class::operational;
    set_many_request many{11, {set_request{11, 3, op, cls, "spec.k1", "one"}, set_request{12, 3, op, cls, "spec.k2", "two"},
                               set_request{13, 3, op, cls, "spec.k1", "three"}}};
    send(s, many);
    REQUIRE(acked(s, {11, 12, 13}));
    const auto value_of = [&](const std::string& key) {
        auto m = ask(s, starbus::encode(starbus::get_request{99, key}));
        REQUIRE(m.has_value());
        return std::get<starbus::value_reply>(*m).value;
    };
    CHECK(value_of("spec.k1") == "three");  // in order
    CHECK(value_of("spec.k2") == "two");
    // An invalid SET inside refuses the frame, addressed to its first request_id; nothing of it is applied.
    set_many_request bad{21, {set_request{21, 3, op, cls, "spec.k2", "four"}, set_request{22, 3, op, cls, "", "x"}}};
    auto m = ask(s, starbus::encode(bad));
    REQUIRE(error_of(m) == starbus::error_code::bad_request);
    CHECK(std::get<starbus::error_reply>(*m).request_id == 21);
    CHECK(value_of("spec.k2") == "two");
    REQUIRE(c.running(0));
}
