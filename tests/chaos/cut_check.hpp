// File: cut_check.hpp
// The verdicts of the replica-cut scenario (scenarios.hpp, README "The
// replica cut"): the primary is cut from its backups while every client
// still reaches every broker, and clients that never lost their server keep
// asking every broker for its status. Nobody failed over, so nobody may
// take over: issue 9 §2, "only a client that failed over votes".
//
// Pure functions over what the run recorded (status samples, the brokers'
// role transitions, the load's history), so that each rule is unit-tested
// on hand-made inputs:
//   two serving     a status sample in which two brokers report "active"
//                   (consecutive such samples are one overlap)
//   takeover        a backup that reports "active", or whose log shows a
//                   transition into active, at any time of the run (the
//                   primary is never faulted here, so no backup has cause)
//   primary lost    the primary's log shows it leaving active
//   acks            the primary acknowledges the load's changes all through
//                   the cut (a bounded longest gap, a rate not far below
//                   its rate before the cut), nobody else does
//   coverage        enough samples and monitoring calls during the cut that
//                   a pass is not vacuous
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker_log.hpp"
#include "final_state.hpp"
#include "history.hpp"

namespace starbus::chaos {

// One look at every broker's status, at one moment.
struct status_sample {
    std::int64_t at_ms = 0;  // wall clock, when the answers were in
    std::string source;      // who asked: "ctl" (the sampler), "m1" (the monitoring host)
    std::vector<broker_role> roles;
};

// One line of the sampler's file: {"t":MS,"source":S,"brokers":[...status --json rows...]}.
[[nodiscard]] std::string status_sample_line(std::int64_t at_ms, std::string_view source,
                                             std::string_view status_json_array);
// nullopt when the line is not such a record.
[[nodiscard]] std::optional<status_sample> parse_status_sample(std::string_view line);
// Every record of a file's text; `bad` counts the lines that were not one (a torn last line).
[[nodiscard]] std::vector<status_sample> parse_status_samples(std::string_view text, std::size_t& bad);

// The brokers that report "active" in one sample, in its order.
[[nodiscard]] std::vector<std::string> active_in(const status_sample& s);

// A run of consecutive samples (by time) in which two or more brokers report active.
struct overlap {
    std::int64_t from_ms = 0;          // first such sample
    std::int64_t to_ms = 0;            // last such sample
    std::vector<std::string> brokers;  // every broker active in one of them, sorted
    std::size_t samples = 0;
};
// Samples are sorted by time first (several sources interleave).
[[nodiscard]] std::vector<overlap> find_overlaps(std::vector<status_sample> samples);

// A role transition from a broker's log: "fsm: passive --vote--> active [...]: why".
struct role_change {
    std::string broker;
    std::int64_t at_ms = 0;
    std::string from, event, to;
};
[[nodiscard]] std::optional<role_change> parse_role_change(const log_line& l);

struct cut_inputs {
    std::string primary;               // rank 0: the only broker that may serve in this scenario
    std::vector<std::string> backups;  // the others
    std::int64_t cut_from_ms = 0;      // the partition's routes were in place from here...
    std::int64_t cut_to_ms = 0;        // ...to here (wall clock)
    std::int64_t load_from_ms = 0;     // the load began (acks before it are the harness's own)
    std::vector<status_sample> samples;
    std::vector<role_change> changes;      // every broker's, any order
    const history* h = nullptr;            // the load's operations
    std::size_t monitor_calls_in_cut = 0;  // CLI calls the monitoring host completed during the cut
    // Thresholds.
    std::int64_t max_ack_gap_ms = 1000;   // longest time the primary may go without acknowledging in the cut
    double min_rate_ratio = 0.5;          // its rate in the cut, at least this times its rate before the cut
    std::size_t min_samples_in_cut = 10;  // fewer: the overlap check saw too little
    std::size_t min_monitor_calls_in_cut = 3;
};

struct cut_report {
    std::vector<std::string> violations;  // empty: passed
    std::vector<std::string> figures;     // lines for the report, pass or fail
    std::vector<overlap> overlaps;
    std::size_t samples = 0, samples_in_cut = 0;
    std::size_t primary_acks_in_cut = 0, other_acks_in_cut = 0;
    std::int64_t longest_ack_gap_ms = 0;
    double rate_before = 0, rate_in_cut = 0;  // the primary's acknowledgements per second
    // The first moment a backup served, relative to the cut's start (negative: before it), if any did.
    std::optional<std::int64_t> takeover_after_ms;
    std::string takeover_by;

    [[nodiscard]] bool ok() const { return violations.empty(); }
};

[[nodiscard]] cut_report check_cut(const cut_inputs& in);

}  // namespace starbus::chaos
