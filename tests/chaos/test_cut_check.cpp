// File: test_cut_check.cpp
// The replica-cut scenario's verdicts (cut_check.hpp): the sampler's lines,
// the "two serving at once" detector over status samples, the parsing of
// the brokers' role transitions, and check_cut's rules (no backup serves,
// the primary never stops serving, it acknowledges all through the cut,
// enough was observed for a pass to mean something).
#include <catch2/catch.hpp>

#include "cut_check.hpp"

using namespace starbus::chaos;

namespace {

// A sample at `at` in which the named brokers are active and the others passive.
status_sample sample(std::int64_t at, std::initializer_list<const char*> active, const std::string& source = "ctl") {
    status_sample s;
    s.at_ms = at;
    s.source = source;
    for (const char* name : {"A", "B", "C"}) {
        broker_role r;
        r.name = name;
        r.reachable = true;
        r.role = "passive";
        for (const char* a : active)
            if (std::string(a) == name) r.role = "active";
        r.state = r.role;
        s.roles.push_back(r);
    }
    return s;
}

op_record ack(std::uint64_t i, std::int64_t at, const std::string& server) {
    op_record op;
    op.process = "c1";
    op.index = i;
    op.key = "chaos.op.c1." + std::to_string(i);
    op.value = "v" + std::to_string(i);
    op.invoke_ms = at - 5;
    op.complete_ms = at;
    op.result = outcome::ok;
    op.server = server;
    op.epoch = 1;
    op.seq = i;
    return op;
}

// A cut from t = 10 000 to 15 000; A acknowledges every 100 ms throughout; samples every 100 ms with A alone
// active; the monitoring host made 12 calls. A clean run: no violation.
struct clean_run {
    history h;
    cut_inputs in;
    clean_run() {
        for (std::int64_t t = 9000; t <= 16000; t += 100) h.ops.push_back(ack(h.ops.size() + 1, t, "A"));
        in.primary = "A";
        in.backups = {"B", "C"};
        in.cut_from_ms = 10000;
        in.cut_to_ms = 15000;
        in.load_from_ms = 8000;
        for (std::int64_t t = 8000; t <= 17000; t += 100) in.samples.push_back(sample(t, {"A"}));
        in.h = &h;
        in.monitor_calls_in_cut = 12;
    }
};

log_line fsm_line(const std::string& broker, std::int64_t at, const std::string& text) {
    return {broker, at, "info", text};
}

}  // namespace

TEST_CASE("cut check: a sampler line round-trips through status_sample_line and parse_status_sample", "[cut]") {
    const std::string rows = R"([{"name":"A","role":"active","reachable":true,"state":"active","epoch":1,"seq":7},)"
                             R"({"name":"B","role":"down","reachable":false,"state":"down","epoch":null,"seq":null}])";
    const auto line = status_sample_line(1234, "ctl", rows);
    const auto s = parse_status_sample(line);
    REQUIRE(s);
    CHECK(s->at_ms == 1234);
    CHECK(s->source == "ctl");
    REQUIRE(s->roles.size() == 2);
    CHECK(s->roles[0].role == "active");
    CHECK(s->roles[0].seq == 7);
    CHECK_FALSE(s->roles[1].reachable);
    CHECK(active_in(*s) == std::vector<std::string>{"A"});

    std::size_t bad = 0;
    const auto all = parse_status_samples(line + "\n" + line + "\n{\"t\":5,\"bro", bad);  // a torn last line
    CHECK(all.size() == 2);
    CHECK(bad == 1);
    CHECK_FALSE(parse_status_sample("[]"));
    CHECK_FALSE(parse_status_sample(R"({"t":1,"brokers":[]})"));
}

TEST_CASE("cut check: an unreachable broker never counts as active", "[cut]") {
    auto s = sample(100, {"A", "B"});
    s.roles[1].reachable = false;  // B's row from a probe that timed out keeps its last words out
    CHECK(active_in(s) == std::vector<std::string>{"A"});
    CHECK(find_overlaps({s}).empty());
}

TEST_CASE("cut check: find_overlaps groups consecutive samples with two active brokers", "[cut]") {
    SECTION("one broker active throughout: none") {
        CHECK(find_overlaps({sample(1, {"A"}), sample(2, {"A"})}).empty());
    }
    SECTION("nobody active (a failover in progress): none") {
        CHECK(find_overlaps({sample(1, {}), sample(2, {"B"})}).empty());
    }
    SECTION("two runs, out of order and from two sources") {
        const auto o = find_overlaps({sample(500, {"A"}), sample(300, {"A", "B"}, "m1"), sample(200, {"A", "B"}),
                                      sample(100, {"A"}), sample(600, {"A", "C"}), sample(700, {"A", "B", "C"})});
        REQUIRE(o.size() == 2);
        CHECK(o[0].from_ms == 200);
        CHECK(o[0].to_ms == 300);
        CHECK(o[0].samples == 2);
        CHECK(o[0].brokers == std::vector<std::string>{"A", "B"});
        CHECK(o[1].from_ms == 600);
        CHECK(o[1].to_ms == 700);
        CHECK(o[1].brokers == std::vector<std::string>{"A", "B", "C"});
    }
    SECTION("a single sample counts") {
        const auto o = find_overlaps({sample(1, {"A"}), sample(2, {"A", "B"}), sample(3, {"A"})});
        REQUIRE(o.size() == 1);
        CHECK(o[0].samples == 1);
    }
}

TEST_CASE("cut check: parse_role_change reads the broker's fsm lines", "[cut]") {
    const auto c = parse_role_change(fsm_line(
        "B", 42,
        "fsm: passive --vote--> active [stop_sync|raise_epoch]: server silent and clients come to me, the best "
        "synchronised replica: take over"));
    REQUIRE(c);
    CHECK(c->broker == "B");
    CHECK(c->at_ms == 42);
    CHECK(c->from == "passive");
    CHECK(c->event == "vote");
    CHECK(c->to == "active");
    const auto lost = parse_role_change(fsm_line("C", 1, "fsm: passive --server_lost--> passive [none]: orphaned"));
    REQUIRE(lost);
    CHECK(lost->event == "server_lost");
    CHECK_FALSE(parse_role_change(fsm_line("B", 1, "fsm: no server to replicate from; stalled")));
    CHECK_FALSE(parse_role_change(fsm_line("B", 1, "serving at epoch 2 from position (1, 10)")));
}

TEST_CASE("cut check: a clean cut passes and says no takeover", "[cut]") {
    clean_run run;
    const auto r = check_cut(run.in);
    CHECK(r.ok());
    CHECK(r.violations.empty());
    CHECK(r.primary_acks_in_cut == 51);
    CHECK(r.longest_ack_gap_ms == 100);
    CHECK(r.samples_in_cut == 51);
    CHECK_FALSE(r.takeover_after_ms);
    CHECK(r.figures.back() == "takeover: none (no backup served)");
}

TEST_CASE("cut check: the bug of issue 9 (a backup takes over on status requests) fails four ways", "[cut]") {
    clean_run run;
    // B takes over 0.32 s into the cut and serves until A steps down 0.5 s after the heal.
    for (auto& s : run.in.samples)
        if (s.at_ms >= 10400 && s.at_ms <= 15500) s = sample(s.at_ms, {"A", "B"});
    run.in.changes = {
        *parse_role_change(fsm_line("B", 10300, "fsm: passive --server_lost--> passive [none]: orphaned")),
        *parse_role_change(fsm_line("B", 10320, "fsm: passive --vote--> active [stop_sync|raise_epoch]: take over")),
        *parse_role_change(fsm_line("A", 15500, "fsm: active --server_seen--> syncing [start_sync]: follow")),
    };
    const auto r = check_cut(run.in);
    CHECK_FALSE(r.ok());
    REQUIRE(r.overlaps.size() == 1);
    CHECK(r.overlaps[0].samples == 52);
    REQUIRE(r.takeover_after_ms);
    CHECK(*r.takeover_after_ms == 320);
    CHECK(r.takeover_by == "B");
    auto has = [&](const std::string& needle) {
        for (const auto& v : r.violations)
            if (v.find(needle) != std::string::npos) return true;
        return false;
    };
    CHECK(has("two brokers served at once: A and B reported active in 52 consecutive status samples"));
    CHECK(has("backup B served: it reported active in 52 status samples"));
    CHECK(has("backup B took over: \"passive --vote--> active\""));
    CHECK(has("+0.32 s from the cut's start"));
    CHECK(has("the primary A stopped serving: \"active --server_seen--> syncing\""));
    CHECK(r.violations.size() == 4);
}

TEST_CASE("cut check: the primary must acknowledge all through the cut, and nobody else", "[cut]") {
    clean_run run;
    SECTION("a stall longer than the allowed gap") {
        std::erase_if(run.h.ops,
                      [](const op_record& op) { return *op.complete_ms > 12000 && *op.complete_ms < 13500; });
        const auto r = check_cut(run.in);
        CHECK(r.longest_ack_gap_ms == 1500);
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("went 1500 ms without acknowledging") != std::string::npos);
    }
    SECTION("silence up to the end of the cut counts too") {
        std::erase_if(run.h.ops, [](const op_record& op) { return *op.complete_ms > 13000; });
        CHECK(check_cut(run.in).longest_ack_gap_ms == 2000);
    }
    SECTION("no acknowledgement at all") {
        run.h.ops.clear();
        const auto r = check_cut(run.in);
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("acknowledged no change") != std::string::npos);
    }
    SECTION("an acknowledgement by a backup during the cut") {
        run.h.ops.push_back(ack(999, 12345, "B"));
        const auto r = check_cut(run.in);
        CHECK(r.other_acks_in_cut == 1);
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("acknowledged by B during the cut") != std::string::npos);
    }
    SECTION("a rate far below the rate before the cut") {
        // Before the cut: every 100 ms; during it, every 400 ms (gaps within the bound).
        std::erase_if(run.h.ops, [](const op_record& op) {
            return *op.complete_ms > 10000 && *op.complete_ms <= 15000 && *op.complete_ms % 400 != 0;
        });
        run.in.load_from_ms = 9000;
        const auto r = check_cut(run.in);
        CHECK(r.rate_before == Approx(9.0));  // the ack at 9.0 s was invoked before the load began
        CHECK(r.rate_in_cut == Approx(2.6));
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("2.6/s during the cut against 9.0/s before it") != std::string::npos);
    }
    SECTION("failures and unknown outcomes are not acknowledgements") {
        for (auto& op : run.h.ops)
            if (*op.complete_ms > 12000 && *op.complete_ms < 13500) op.result = outcome::info;
        CHECK(check_cut(run.in).longest_ack_gap_ms == 1500);
    }
}

TEST_CASE("cut check: a run that did not look cannot pass", "[cut]") {
    clean_run run;
    SECTION("too few samples during the cut") {
        std::erase_if(run.in.samples, [](const status_sample& s) { return s.at_ms > 10000 && s.at_ms < 15000; });
        run.in.min_samples_in_cut = 10;
        const auto r = check_cut(run.in);
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("status samples during the cut") != std::string::npos);
    }
    SECTION("too few monitoring calls during the cut") {
        run.in.monitor_calls_in_cut = 1;
        run.in.min_monitor_calls_in_cut = 3;
        const auto r = check_cut(run.in);
        REQUIRE(r.violations.size() == 1);
        CHECK(r.violations[0].find("monitoring host completed only 1") != std::string::npos);
    }
}
