// File: test_bad_input.cpp
// Hostile and broken input against a real broker: every malformed frame gets
// an error reply naming what was wrong (protocol.md: "Unexpected commands get
// an explicit error reply"), the broker never crashes, and stored data stays
// intact. A broken cluster file or an unknown --name stops the broker at
// start with exit code 2 and a message that says what to fix.
#include <catch2/catch.hpp>

#include <zmq.hpp>

#include <starbus/wire/codec.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::run_program;
using starbus::test::test_cluster;

using starbus::test::ask;
using starbus::test::endpoint_of;
using starbus::test::error_of;

TEST_CASE("bad input: malformed requests get an error reply and the broker keeps serving", "[integration]") {
    test_cluster c(1);
    c.start_all();
    INFO(c.logs());
    REQUIRE(c.wait_role("A", "active", 15s));
    REQUIRE(c.cli({"set", "keep", "me"}).exit_code == 0);

    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint_of(c.cluster_file()));

    // "Every message starts with a protocol signature and version; anything else is dropped and counted."
    REQUIRE(error_of(ask(s, std::string("\x00\x01\x02", 3))) == starbus::error_code::bad_request);
    REQUIRE(error_of(ask(s, "hello, broker")) == starbus::error_code::bad_request);
    {
        msgpack::sbuffer b;
        msgpack::packer<msgpack::sbuffer> pk(b);
        pk.pack_array(4);
        pk.pack(std::string("XX"));
        pk.pack(1);
        pk.pack(1);
        pk.pack_array(0);
        REQUIRE(error_of(ask(s, std::string(b.data(), b.size()))) == starbus::error_code::bad_version);
    }
    {
        // "Unexpected commands get an explicit error reply."
        msgpack::sbuffer b;
        msgpack::packer<msgpack::sbuffer> pk(b);
        pk.pack_array(4);
        pk.pack(std::string("SB"));
        pk.pack(1);
        pk.pack(99);
        pk.pack_array(0);
        REQUIRE(error_of(ask(s, std::string(b.data(), b.size()))) == starbus::error_code::unknown_command);
    }
    {
        // Wrong MessagePack types in a known command.
        msgpack::sbuffer b;
        msgpack::packer<msgpack::sbuffer> pk(b);
        pk.pack_array(4);
        pk.pack(std::string("SB"));
        pk.pack(1);
        pk.pack(static_cast<int>(starbus::command::set_request));
        pk.pack_array(2);
        pk.pack(std::string("not a number"));
        pk.pack(3.5);
        REQUIRE(error_of(ask(s, std::string(b.data(), b.size()))) == starbus::error_code::bad_request);
    }
    {
        starbus::set_request big;
        big.request_id = 1;
        big.client_id = 7;
        big.key = std::string(starbus::limits::max_key_bytes + 1, 'k');
        REQUIRE(error_of(ask(s, starbus::encode(big))) == starbus::error_code::too_large);
    }
    {
        // A frame over the frame limit is answered, not silently dropped.
        REQUIRE(error_of(ask(s, std::string(static_cast<std::size_t>(starbus::limits::max_frame_bytes) + 1, 'x'))) ==
                starbus::error_code::too_large);
    }
    {
        // A reply sent as if it were a request.
        REQUIRE(error_of(ask(s, starbus::encode(starbus::pong{}))) == starbus::error_code::unknown_command);
    }
    REQUIRE(c.running(0));
    auto got = c.cli({"get", "keep"});
    REQUIRE(got.exit_code == 0);
    REQUIRE(got.out.find("me") != std::string::npos);
}

TEST_CASE("bad input: a broken cluster file or an unknown name stops the broker at start with exit 2",
          "[integration]") {
    starbus::test::temp_dir dir;
    const std::string broker = starbus::test::bin_dir() + "/starbus-broker";
    auto write = [&](const std::string& text) {
        std::ofstream((dir.path() / "c.toml").string()) << text;
        return (dir.path() / "c.toml").string();
    };
    auto run = [&](const std::string& file, const std::string& name) {
        return run_program({broker, "--cluster", file, "--name", name, "--data-dir", (dir.path() / "d").string()},
                           10s);
    };
    const std::string good = "[[broker]]\nname = \"A\"\nendpoint = \"tcp://127.0.0.1:1\"\n";

    auto r = run(write("heartbeat_ms = \"fast\"\n" + good), "A");
    REQUIRE(r.exit_code == 2);
    REQUIRE(r.err.find("heartbeat_ms") != std::string::npos);

    r = run(write(good + good), "A");
    REQUIRE(r.exit_code == 2);
    REQUIRE(r.err.find("duplicate broker name") != std::string::npos);

    r = run(write("[[broker\nname=\n"), "A");
    REQUIRE(r.exit_code == 2);
    REQUIRE(r.err.find("not valid TOML") != std::string::npos);

    r = run(write(good), "Z");
    REQUIRE(r.exit_code == 2);
    REQUIRE(r.err.find("no broker named \"Z\"") != std::string::npos);

    r = run((dir.path() / "missing.toml").string(), "A");
    REQUIRE(r.exit_code == 2);
    REQUIRE(r.err.find("cannot read cluster file") != std::string::npos);
}
