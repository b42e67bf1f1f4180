// File: test_checker.cpp
// The checker's classification of changes (Jepsen's lost / recovered /
// unexpected / duplicated, plus failed-but-present), the convergence of
// replicas, and the configuration-epoch rule, each on a hand-made history.
#include <catch2/catch.hpp>

#include <algorithm>

#include "checker.hpp"

using namespace starbus::chaos;

namespace {

op_record change(const std::string& process, std::uint64_t index, outcome result, const std::string& server = "A",
                 std::uint64_t epoch = 3, std::uint64_t seq = 10, op_kind kind = op_kind::set_op) {
    op_record op;
    op.process = process;
    op.index = index;
    op.kind = kind;
    op.key =
        std::string(kind == op_kind::set_config ? "chaos.cfg." : "chaos.op.") + process + "." + std::to_string(index);
    op.value = "t:" + process + "." + std::to_string(index);
    op.invoke_ms = 1000 + static_cast<std::int64_t>(index);
    op.complete_ms = op.invoke_ms + 5;
    op.result = result;
    if (result == outcome::ok) {
        op.server = server;
        op.epoch = epoch;
        op.seq = seq;
    }
    return op;
}

// A replica holding the given ops' keys and values (config class for config ops).
replica_state holding(const std::string& broker, const std::vector<op_record>& ops, std::uint64_t epoch = 3) {
    replica_state r;
    r.broker = broker;
    r.read = true;
    r.epoch = epoch;
    std::uint64_t seq = 0;
    for (const auto& op : ops) {
        final_entry e;
        e.value = op.value;
        e.config = op.kind == op_kind::set_config;
        e.seq = op.seq ? op.seq : ++seq;
        e.epoch = op.epoch ? op.epoch : epoch;
        r.entries[op.key] = e;
        r.seq = std::max(r.seq, e.seq);
    }
    return r;
}

checker_options options() {
    checker_options o;
    o.primary = "A";
    return o;
}

bool mentions(const check_report& r, const std::string& needle) {
    return std::any_of(r.violations.begin(), r.violations.end(),
                       [&](const std::string& v) { return v.find(needle) != std::string::npos; });
}

}  // namespace

TEST_CASE("checker: every outcome against presence gives its Jepsen class", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1), change("c1", 2, outcome::ok, "A", 3, 2),
             change("c1", 3, outcome::info),          change("c1", 4, outcome::info),
             change("c1", 5, outcome::fail),          change("c1", 6, outcome::fail)};
    // Present at the end: 1 (ok), 3 (info), 5 (fail).
    const auto r = check(h, {holding("A", {h.ops[0], h.ops[2], h.ops[4]})}, "A", {}, options());
    CHECK(r.kv.counts.at(change_verdict::ok) == 1);
    CHECK(r.kv.counts.at(change_verdict::lost) == 1);
    CHECK(r.kv.counts.at(change_verdict::recovered) == 1);
    CHECK(r.kv.counts.at(change_verdict::not_applied) == 2);
    CHECK(r.kv.counts.at(change_verdict::failed_present) == 1);
    CHECK(!r.ok());
    CHECK(mentions(r, "lost: c1#2"));
    CHECK(mentions(r, "failed-but-present: c1#5"));
    CHECK(r.involved_ops == std::vector<std::size_t>{1, 4});
}

TEST_CASE("checker: a clean history passes", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1), change("c2", 1, outcome::info), change("c2", 2, outcome::fail)};
    const auto a = holding("A", {h.ops[0]});
    const auto r = check(h, {a, a, a}, "A", {{"A", 3, 500}}, options());
    CHECK(r.ok());
    CHECK(r.convergence.converged);
    CHECK(r.kv.counts.at(change_verdict::ok) == 1);
}

TEST_CASE("checker: unexpected means present under the workers' prefix and never sent", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1)};
    auto a = holding("A", h.ops);
    a.entries["chaos.op.c9.9"] = {"nobody", false, 2, 3, 0};
    a.entries["harness.probe"] = {"x", false, 3, 3, 0};  // the harness's own: not classified
    a.entries["chaos.op.c1.1"].value = "t:c1.1";         // unchanged: fine
    const auto r = check(h, {a}, "A", {}, options());
    REQUIRE(r.kv.unexpected.size() == 1);
    CHECK(r.kv.unexpected[0] == "chaos.op.c9.9 = nobody");
    CHECK(mentions(r, "unexpected: chaos.op.c9.9"));

    // A worker's key holding a value it never sent is unexpected too (and the write is lost).
    a.entries.erase("chaos.op.c9.9");
    a.entries["chaos.op.c1.1"].value = "garbled";
    const auto r2 = check(h, {a}, "A", {}, options());
    CHECK(r2.kv.unexpected.size() == 1);
    CHECK(r2.kv.counts.at(change_verdict::lost) == 1);
}

TEST_CASE("checker: duplicated is a rewrite after the acknowledgement within the same epoch", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 10)};
    auto a = holding("A", h.ops);

    a.entries["chaos.op.c1.1"].seq = 15;  // same epoch, later seq: applied twice
    auto r = check(h, {a}, "A", {}, options());
    CHECK(r.kv.counts.count(change_verdict::duplicated) == 1);
    CHECK(mentions(r, "duplicated: c1#1"));

    a.entries["chaos.op.c1.1"].epoch = 4;  // a later epoch: applied again on another branch, not flagged
    r = check(h, {a}, "A", {}, options());
    CHECK(r.ok());

    a.entries["chaos.op.c1.1"].epoch.reset();  // the epoch unknown (CLI dump only): cannot tell, not flagged
    r = check(h, {a}, "A", {}, options());
    CHECK(r.ok());

    a.entries["chaos.op.c1.1"] = {h.ops[0].value, false, 10, 3, 0};  // exactly the acknowledged position
    CHECK(check(h, {a}, "A", {}, options()).ok());
}

TEST_CASE("checker: changes are classified against the named reference, the others must converge", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "B", 4, 1), change("c1", 2, outcome::ok, "B", 4, 2)};
    const auto full = holding("B", h.ops, 4);
    auto partial = holding("C", {h.ops[0]}, 4);
    partial.seq = full.seq;

    auto r = check(h, {partial, full}, "B", {}, options());
    CHECK(r.kv.reference == "B");
    CHECK(r.kv.counts.count(change_verdict::lost) == 0);
    CHECK(!r.convergence.converged);
    CHECK(r.convergence.differences == 1);
    CHECK(mentions(r, "divergence: C differs from B in 1 entries"));

    replica_state unread;
    unread.broker = "A";
    unread.error = "timed out";
    r = check(h, {full, unread}, "B", {}, options());
    CHECK(mentions(r, "the final state of A could not be read (timed out)"));

    // No readable replica at all: nothing to check against, which fails the run.
    r = check(h, {unread}, "B", {}, options());
    CHECK(mentions(r, "no broker's final state could be read"));
}

TEST_CASE("checker: only the primary may acknowledge configuration changes, one broker per epoch", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1, op_kind::set_config),
             change("c2", 1, outcome::ok, "A", 3, 2, op_kind::set_config)};
    const std::vector<serving_claim> serving = {{"A", 3, 100}, {"B", 4, 200}, {"A", 5, 300}};
    auto r = check(h, {holding("A", h.ops)}, "A", serving, options());
    CHECK(r.ok());
    CHECK(r.config.acked_by_epoch.at(3) == std::set<std::string>{"A"});

    // An acknowledgement without a position names no epoch.
    h.ops.push_back(change("c4", 1, outcome::ok, "A", 0, 0, op_kind::set_config));
    r = check(h, {holding("A", h.ops)}, "A", serving, options());
    CHECK(r.ok());
    CHECK(!r.config.acked_by_epoch.count(0));

    // A backup acknowledging a configuration change.
    h.ops.push_back(change("c3", 1, outcome::ok, "B", 3, 3, op_kind::set_config));
    r = check(h, {holding("A", h.ops)}, "A", serving, options());
    CHECK(mentions(r, "config accepted by a backup: c3#1"));
    CHECK(mentions(r, "two brokers accepted configuration changes in epoch 3: A, B"));
}

TEST_CASE("checker: a configuration entry from an epoch that only a backup served fails", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::info, "", 0, 0, op_kind::set_config)};
    auto a = holding("A", h.ops, 4);
    a.entries.begin()->second.epoch = 4;
    const std::vector<serving_claim> serving = {{"A", 3, 100}, {"B", 4, 200}};
    auto r = check(h, {a}, "A", serving, options());
    CHECK(r.kv.counts.at(change_verdict::recovered) == 1);
    CHECK(mentions(r, "configuration entry chaos.cfg.c1.1 was written in epoch 4, which only B served"));

    // Two brokers serving one epoch is allowed (resolved by rank), and only noted.
    r = check(history{}, {holding("A", {})}, "A", {{"A", 6, 1}, {"B", 6, 2}}, options());
    CHECK(r.ok());
    REQUIRE(r.config.notes.size() == 1);
    CHECK(r.config.notes[0].find("epoch 6 was served by A and B") != std::string::npos);
}

TEST_CASE("checker: a change held with the wrong class is a violation", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1, op_kind::set_config)};
    auto a = holding("A", h.ops);
    a.entries.begin()->second.config = false;
    CHECK(check(h, {a}, "A", {}, options()).violations.at(0).rfind("wrong class: c1#1", 0) == 0);
}

TEST_CASE("checker: the summary names every violation and the figures", "[checker]") {
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 3, 1)};
    const auto r = check(h, {holding("A", {})}, "A", {}, options());
    const auto s = render_summary(r, h);
    CHECK(s.find("lost 1") != std::string::npos);
    CHECK(s.find("1 violations:") != std::string::npos);
    CHECK(s.find("set_op ok 1") != std::string::npos);
}

TEST_CASE("checker: a backup answering a retry of the primary's configuration change is no second acceptor",
          "[checker]") {
    // Epoch 256 belongs to rank 0 (A), 257 to rank 1 (B): protocol.md "Positions and history".
    history h;
    h.ops = {change("c1", 1, outcome::ok, "A", 256, 5, op_kind::set_config),
             change("c1", 2, outcome::ok, "B", 256, 6, op_kind::set_config),   // B reports A's position
             change("c1", 3, outcome::ok, "B", 257, 9, op_kind::set_config)};  // B's own epoch: a violation
    auto o = options();
    o.brokers = {"A", "B", "C"};
    const auto r = check(h, {holding("A", h.ops)}, "A", {}, o);
    CHECK(r.config.acked_by_epoch.at(256) == std::set<std::string>{"A"});
    CHECK(mentions(r, "config accepted by a backup: c1#3"));
    CHECK_FALSE(mentions(r, "c1#2"));
    CHECK_FALSE(mentions(r, "two brokers accepted configuration changes in epoch 256"));
}
