// File: checker.hpp
// The checker of a chaos run: takes the workers' histories, every broker's
// final replica and the epochs the brokers' logs say they served, and
// decides whether starbus kept its promises. A pure function (no I/O), so
// that its classification rules are unit-tested on hand-made histories.
//
// Changes are classified as RabbitMQ's Jepsen checker classifies queue
// operations, adapted to a key/value state in which every write sets a key
// of its own to a value of its own (so presence identifies the write):
//   lost        acknowledged, absent from the final state
//   recovered   outcome unknown to the client, present
//   unexpected  present, but no worker ever sent that key and value
//   duplicated  applied again after it was acknowledged: the final entry was
//               written in the same epoch as the acknowledgement but at a
//               later seq (only a second application of the one request
//               that writes the key can do that)
// plus two more that the queue checker does not need: failed-but-present
// (the client was told "refused", yet it was applied) and not-applied
// (unknown or failed, and absent: allowed).
//
// Also checked: every replica holds the same state (convergence); at most
// one broker acknowledged configuration changes per epoch, and only the
// primary; every subscriber's stream, per publisher, for missed messages,
// duplicates and order (strict or informational, see bus_mode).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "final_state.hpp"
#include "history.hpp"

namespace starbus::chaos {

enum class bus_mode : std::uint8_t {
    strict,  // a missed message not covered by a gap event, a duplicate or a reordering fails the run
    info,    // those are counted and reported only (the bus is not lossless yet: README)
};

struct checker_options {
    bus_mode bus = bus_mode::info;
    std::string primary;                // the rank-0 broker: the only one that may take configuration changes
    // The brokers in rank order. An epoch belongs to the broker that started it (epoch % 256 is its rank,
    // protocol.md "Positions and history"), so an acknowledgement's epoch names the broker that accepted
    // the change, even when another answered a retry of it from its deduplication memory.
    std::vector<std::string> brokers;
    std::string key_prefix = "chaos.";  // the workers' keys; others (harness probes) are not classified
    // A subscriber that received nothing is expected to be connected this
    // long after it said it subscribes.
    std::int64_t subscribe_grace_ms = 3000;
};

enum class change_verdict : std::uint8_t {
    ok,              // acknowledged and present
    lost,            // acknowledged, absent (violation)
    recovered,       // outcome unknown, present
    not_applied,     // unknown or failed, absent
    failed_present,  // failed, yet present (violation)
    duplicated,      // applied again after its acknowledgement (violation)
};
[[nodiscard]] std::string_view to_string(change_verdict v);

// Someone the brokers' logs show serving: "serving at epoch E".
struct serving_claim {
    std::string broker;
    std::uint64_t epoch = 0;
    std::int64_t at_ms = 0;
};

struct kv_report {
    std::string reference;  // the replica the changes were classified against
    std::map<change_verdict, std::size_t> counts;
    std::vector<std::pair<std::size_t, change_verdict>> flagged;  // (op index, verdict) of every violation
    std::vector<std::string> unexpected;                          // "key = value" never sent
    // Violations of one kind by one server in one epoch, summed up: "124
    // changes acknowledged by A in epoch 1 (seq 1548..1671, ...) are lost".
    std::vector<std::string> incidents;
};

struct convergence_report {
    bool converged = true;
    std::size_t differences = 0;       // entries that differ between some replica and the reference
    std::vector<std::string> samples;  // the first few, described
};

struct config_report {
    std::map<std::uint64_t, std::set<std::string>> acked_by_epoch;    // from the clients' acknowledgements
    std::map<std::uint64_t, std::set<std::string>> serving_by_epoch;  // from the brokers' logs
    std::vector<std::string> notes;  // findings that the protocol allows (e.g. two servers at one epoch)
};

struct stream_report {
    std::string subscriber;
    std::string publisher;
    std::size_t expected = 0;      // acknowledged publishes made while the subscriber was connected
    std::size_t received = 0;      // distinct messages received
    std::size_t missed = 0;        // expected and never received
    std::size_t covered = 0;       // of the missed, those a gap event accounts for
    std::size_t duplicates = 0;    // received more than once
    std::size_t out_of_order = 0;  // received after a later one of the same publisher
    // Delivered at another position than acknowledged: a change replayed after a partition healed
    // (protocol.md "Reconciliation": it lands after the surviving server's changes), so exempt from
    // the publisher's order. Counted, not a violation; still checked for loss and duplicates.
    std::size_t reconciled = 0;
    // Of unknown outcome (the publisher gave up on it): it promised no place in the publisher's order, so
    // it is exempt from it too; still checked for duplicates.
    std::size_t indeterminate = 0;
    // Times the subscriber crossed to another history: a message at a lower seq than the one before it, in
    // another epoch (it resumed on a server whose history parted from the one it read; protocol.md
    // "Partitions and reconciliation": readers see two histories meanwhile). The publisher's order is checked
    // within each history read, not across such a crossing. A seq going back within one epoch is no crossing.
    std::size_t forks_crossed = 0;
};

struct bus_report {
    std::vector<stream_report> streams;
    std::size_t unexpected = 0;  // received, but never published (or published and refused)
    std::size_t missed = 0, covered = 0, duplicates = 0, out_of_order = 0, reconciled = 0, indeterminate = 0;
    std::size_t forks_crossed = 0;  // summed over subscribers (each counted once, not per publisher)
};

struct check_report {
    kv_report kv;
    convergence_report convergence;
    config_report config;
    bus_report bus;
    std::vector<std::string> violations;           // one line each; empty = the run passed
    std::vector<std::size_t> involved_ops;         // indices into history.ops of the operations behind violations
    std::map<std::string, std::size_t> op_counts;  // "set_op ok" -> n, ...

    [[nodiscard]] bool ok() const { return violations.empty(); }
};

// `replicas` holds every broker's final state; `reference` names the one to
// classify against (the broker that serves at the end), or is empty to use
// the first readable replica.
[[nodiscard]] check_report check(const history& h, const std::vector<replica_state>& replicas,
                                 const std::string& reference, const std::vector<serving_claim>& serving,
                                 const checker_options& options);

// A few lines of figures, and every violation.
[[nodiscard]] std::string render_summary(const check_report& r, const history& h);

}  // namespace starbus::chaos
