// File: test_history.cpp
// The records the checker reads: history lines written and read back (an
// invoke without completion is an unknown outcome, a torn line is counted),
// the CLI's dump and status JSON, and the brokers' log lines.
#include <catch2/catch.hpp>

#include "broker_log.hpp"
#include "final_state.hpp"
#include "history.hpp"

using namespace starbus::chaos;

TEST_CASE("history: invoke and complete lines round-trip and pair up", "[history]") {
    op_record op;
    op.process = "c1";
    op.index = 7;
    op.kind = op_kind::set_config;
    op.key = "chaos.cfg.c1.7";
    op.value = "tag:c1.7";
    op.invoke_ms = 1000;
    std::string text = invoke_line(op) + "\n";
    op.complete_ms = 1020;
    op.result = outcome::ok;
    op.server = "A";
    op.epoch = 3;
    op.seq = 99;
    text += complete_line(op) + "\n";
    op_record pub;
    pub.process = "c1";
    pub.index = 8;
    pub.kind = op_kind::publish;
    pub.key = "chaos.bus.c1";
    pub.value = "tag:c1:1";
    pub.pub_seq = 1;
    pub.invoke_ms = 1030;
    text += invoke_line(pub) + "\n";  // never completed
    text += event_line({"c1", 1040, "server_lost", "A did not answer"}) + "\n";
    text += subscriber_line("s1", 900) + "\n";
    text += message_line({"s1", "chaos.bus.c1", "tag:c1:1", 1050}) + "\n";
    text += "{\"type\":\"invoke\",\"p\":\"c1\",\"i\":9,\"ki";  // torn by a kill

    history h;
    read_history_text(text, h);
    REQUIRE(h.ops.size() == 2);
    CHECK(h.ops[0].result == outcome::ok);
    CHECK(h.ops[0].complete_ms == 1020);
    CHECK(h.ops[0].server == "A");
    CHECK(h.ops[0].epoch == 3);
    CHECK(h.ops[0].seq == 99);
    CHECK(h.ops[0].kind == op_kind::set_config);
    CHECK(h.ops[1].result == outcome::info);
    CHECK(!h.ops[1].complete_ms);
    CHECK(h.ops[1].pub_seq == 1);
    REQUIRE(h.events.size() == 1);
    CHECK(h.events[0].kind == "server_lost");
    CHECK(h.subscribers == std::vector<std::string>{"s1"});
    CHECK(h.subscribed_at.at("s1") == 900);
    REQUIRE(h.messages.size() == 1);
    CHECK(h.messages[0].at_ms == 1050);
    CHECK(h.bad_lines == 1);
}

TEST_CASE("history: a completion without its invoke is a bad line, and files of several workers combine", "[history]") {
    history h;
    read_history_text("{\"type\":\"complete\",\"p\":\"c2\",\"i\":1,\"outcome\":\"ok\",\"t\":5}\n", h);
    CHECK(h.bad_lines == 1);
    op_record op;
    op.process = "c3";
    op.index = 1;
    op.key = "chaos.op.c3.1";
    read_history_text(invoke_line(op) + "\n", h);
    op.result = outcome::fail;
    op.complete_ms = 9;
    read_history_text(complete_line(op) + "\n", h);  // a later chunk still finds its invoke
    REQUIRE(h.ops.size() == 1);
    CHECK(h.ops[0].result == outcome::fail);
}

TEST_CASE("final state: the CLI's dump JSON, enriched with the worker's epochs", "[history]") {
    const std::string cli = R"({"epoch": 4, "seq": 12, "entries": [
        {"key": "chaos.op.c1.1", "value": "v1", "class": "operational", "seq": 3},
        {"key": "chaos.cfg.c1.2", "value": "v2", "class": "config", "seq": 5}]})";
    replica_state s;
    REQUIRE(parse_dump_json(cli, s));
    CHECK(s.read);
    CHECK(s.epoch == 4);
    CHECK(s.seq == 12);
    CHECK(s.entries.at("chaos.cfg.c1.2").config);
    CHECK(!s.entries.at("chaos.op.c1.1").epoch);
    const std::string worker = R"({"epoch": 4, "seq": 12, "entries": [
        {"key": "chaos.op.c1.1", "value": "v1", "class": "operational", "seq": 3, "epoch": 2, "client_id": 77},
        {"key": "chaos.cfg.c1.2", "value": "v2", "class": "config", "seq": 6, "epoch": 4, "client_id": 78}]})";
    CHECK(enrich_from_worker_dump(worker, s) == 1);  // the second differs in seq: read at another moment
    CHECK(s.entries.at("chaos.op.c1.1").epoch == 2u);
    CHECK(s.entries.at("chaos.op.c1.1").client_id == 77u);
    CHECK(!s.entries.at("chaos.cfg.c1.2").epoch);

    replica_state bad;
    CHECK(!parse_dump_json("no json", bad));
    CHECK(!bad.read);
    CHECK(!bad.error.empty());
}

TEST_CASE("final state: status JSON and what counts as settled", "[history]") {
    const std::string json = R"([
      {"name":"A","rank":0,"role":"active","epoch":3,"seq":10,"pending":0,"clients":2,"reachable":true,
       "state":"active","server":"A","note":""},
      {"name":"B","rank":1,"role":"passive","epoch":3,"seq":10,"pending":0,"clients":0,"reachable":true,
       "state":"passive","server":"A","note":"replica of A"},
      {"name":"C","rank":2,"role":"down","epoch":0,"seq":0,"pending":0,"clients":0,"reachable":false,
       "state":"down","server":"","note":"no answer within 1600 ms"}])";
    auto roles = parse_status_json(json);
    REQUIRE(roles);
    REQUIRE(roles->size() == 3);
    CHECK(!settled(*roles));
    CHECK(sole_active(*roles) == std::optional<std::string>("A"));
    CHECK(summarize(*roles) == "A active 3/10, B passive 3/10, C down");
    (*roles)[2] = (*roles)[1];
    (*roles)[2].name = std::string("C");
    CHECK(settled(*roles));
    (*roles)[2].seq = 9;  // a replica behind
    CHECK(!settled(*roles));
    (*roles)[2].seq = 10;
    (*roles)[1].role = "active";  // two servers
    CHECK(!settled(*roles));
    CHECK(!sole_active(*roles));
    CHECK(!parse_status_json("{"));
}

TEST_CASE("broker log: serving epochs, transitions and errors, on the wall clock", "[history]") {
    // 10:00:00.000 local time on some day, as the reference.
    const std::int64_t ref = 1'700'000'000'000;
    const std::string ref_clock = clock_text(ref);
    const std::string log = ref_clock + " A info broker A (rank 0) listening on tcp://10.99.0.11:5670\n" + ref_clock +
                            " A info fsm: stalled --cold_start_elected--> active [x]: y\n" + ref_clock +
                            " A info serving at epoch 3 from position (2, 10); committed up to seq 10\n" +
                            "garbage line\n" + ref_clock + " A error cannot write log: No space left on device\n";
    const broker_log l = scan_broker_log(log, "A", ref);
    REQUIRE(l.serving.size() == 1);
    CHECK(l.serving_epochs[0] == 3);
    CHECK(l.serving[0].at_ms == ref);
    CHECK(l.serving[0].broker == "A");
    REQUIRE(l.transitions.size() == 1);
    REQUIRE(l.errors.size() == 1);
    CHECK(l.errors[0].text == "cannot write log: No space left on device");
}

TEST_CASE("broker log: a line after midnight lands on the next day", "[history]") {
    const std::int64_t ref = 1'700'000'000'000;
    // Two lines: one a minute before midnight, one a minute after, relative to the reference's day.
    const std::string before = "23:59:00.000 B info serving at epoch 5 from position (4, 1); committed up to seq 1\n";
    const std::string after = "00:01:00.000 B info serving at epoch 6 from position (5, 2); committed up to seq 2\n";
    const broker_log l = scan_broker_log(before + after, "B", ref);
    REQUIRE(l.serving.size() == 2);
    CHECK(l.serving[1].at_ms - l.serving[0].at_ms == 120'000);
}
