// File: report.cpp
// Figures and failure reports of a chaos run (see report.hpp).
#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

namespace starbus::chaos {

namespace {

// How far around an operation the broker log is shown.
constexpr std::int64_t log_window_ms = 2000;
constexpr std::size_t max_ops_shown = 12;
constexpr std::size_t max_log_lines_per_op = 24;
// A timeline longer than this is shown only around the operations shown.
constexpr std::size_t max_timeline_entries = 80;
constexpr std::int64_t timeline_window_ms = 10000;

std::string describe_op(const op_record& op) {
    std::string s = op.process + "#" + std::to_string(op.index) + " " + std::string(to_string(op.kind)) + " " + op.key;
    if (op.kind == op_kind::publish) s += " \"" + op.value + "\"";
    s += " invoked " + clock_text(op.invoke_ms);
    if (op.complete_ms) {
        s += ", completed " + clock_text(*op.complete_ms) + " " + std::string(to_string(op.result));
        if (!op.server.empty()) s += " by " + op.server;
        if (op.result == outcome::ok && op.kind != op_kind::publish)
            s += " at (" + std::to_string(op.epoch) + ", " + std::to_string(op.seq) + ")";
        if (!op.message.empty()) s += " (" + op.message + ")";
    } else {
        s += ", never completed";
    }
    return s;
}

}  // namespace

std::string render_figures(const run_outcome& r, const fault_counts& faults, int broker_restarts) {
    const double seconds = std::max(0.001, static_cast<double>(r.load_stopped_ms - r.load_started_ms) / 1000.0);
    std::size_t changes = 0, completed = 0;
    for (const auto& op : r.h.ops) {
        if (op.kind != op_kind::publish) ++changes;
        if (op.complete_ms) ++completed;
    }
    std::size_t total_faults = 0;
    std::string per_kind;
    for (const auto& [k, n] : faults) {
        total_faults += n;
        per_kind += (per_kind.empty() ? "" : ", ") + k + " " + std::to_string(n);
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "figures: %.1f s of load, %zu operations (%.1f ops/s), %zu changes classified, "
                  "%zu bus messages received, %zu faults injected",
                  seconds, r.h.ops.size(), static_cast<double>(r.h.ops.size()) / seconds, changes, r.h.messages.size(),
                  total_faults);
    std::string s = line;
    if (!per_kind.empty()) s += " (" + per_kind + ")";
    s += ", " + std::to_string(broker_restarts) + " broker restarts by the supervisor\n";
    s += render_summary(r.report, r.h);
    for (const auto& l : r.liveness) s += "liveness: " + l + "\n";
    return s;
}

void publish_report(const std::string& text, const timeline& events, const std::filesystem::path& run_dir) {
    std::cout << text << std::flush;
    std::ofstream(run_dir / "report.txt") << text;
    std::ofstream t(run_dir / "timeline.txt");
    for (const auto& e : events.entries()) t << events.format(e) << "\n";
}

std::string render_failure(const run_outcome& r, const timeline& events, std::uint64_t seed,
                           const std::string& reproduce) {
    std::string s = "\n==== starbus-chaos FAILED, seed " + std::to_string(seed) + " ====\n";
    s += "reproduce: " + reproduce + "\n";

    // Which operations to show: the first and last of each incident (one
    // verdict, server and epoch), then the other operations involved.
    std::vector<std::size_t> order;
    {
        std::map<std::tuple<int, std::string, std::uint64_t>, std::vector<std::size_t>> groups;
        for (const auto& [i, v] : r.report.kv.flagged)
            groups[{static_cast<int>(v), r.h.ops[i].server, r.h.ops[i].epoch}].push_back(i);
        for (const auto& [key, ops] : groups) {
            order.push_back(ops.front());
            if (ops.size() > 1) order.push_back(ops.back());
        }
        // Then the operations behind other violations (configuration, class):
        // the rest of an incident would only repeat its first and last.
        std::set<std::size_t> in_incidents;
        for (const auto& [i, v] : r.report.kv.flagged) in_incidents.insert(i);
        for (std::size_t k = 0; k < r.report.involved_ops.size() && order.size() < max_ops_shown; ++k) {
            const auto i = r.report.involved_ops[k];
            if (!in_incidents.count(i) && std::find(order.begin(), order.end(), i) == order.end()) order.push_back(i);
        }
        if (order.size() > max_ops_shown) order.resize(max_ops_shown);
    }
    // Whether a time lies within 10 s of an operation shown.
    auto near_shown = [&](std::int64_t t) {
        for (auto i : order) {
            const op_record& op = r.h.ops.at(i);
            if (t >= op.invoke_ms - timeline_window_ms &&
                t <= op.complete_ms.value_or(op.invoke_ms) + timeline_window_ms)
                return true;
        }
        return false;
    };

    // The timeline: all of it for a short run; for a long one, only near the
    // operations shown (the whole list is in timeline.txt).
    const auto& entries = events.entries();
    const bool trim = entries.size() > max_timeline_entries;
    s += std::string("\ntimeline of faults and harness events") + (trim ? ", near the operations shown" : "") + ":\n";
    std::size_t skipped = 0;
    for (const auto& e : entries) {
        if (trim && !near_shown(e.at_ms)) {
            ++skipped;
            continue;
        }
        if (skipped) s += "  ... " + std::to_string(skipped) + " entries\n";
        skipped = 0;
        s += "  " + events.format(e) + "\n";
    }
    if (skipped) s += "  ... " + std::to_string(skipped) + " entries\n";

    // Every broker's serving epochs, in time order: who served when.
    std::vector<const log_line*> serving;
    for (const auto& l : r.logs)
        for (const auto& line : l.serving) serving.push_back(&line);
    std::sort(serving.begin(), serving.end(), [](const log_line* a, const log_line* b) { return a->at_ms < b->at_ms; });
    const bool trim_serving = serving.size() > max_timeline_entries;
    s += std::string("\nserving epochs (broker logs)") + (trim_serving ? ", near the operations shown" : "") + ":\n";
    for (const auto* l : serving)
        if (!trim_serving || near_shown(l->at_ms))
            s += "  " + clock_text(l->at_ms) + " " + l->broker + " " + l->text + "\n";

    s += "\noperations involved: " + std::to_string(r.report.involved_ops.size());
    if (r.report.involved_ops.size() > order.size())
        s += "; shown: the first and last of each incident, up to " + std::to_string(max_ops_shown);
    s += " (broker log lines within 2 s of each, each line shown once):\n";
    std::set<const log_line*> printed_lines;
    std::set<const timeline_entry*> printed_events;
    for (auto index : order) {
        const op_record& op = r.h.ops.at(index);
        s += "  " + describe_op(op) + "\n";
        const std::int64_t from = op.invoke_ms - log_window_ms;
        const std::int64_t to = op.complete_ms.value_or(op.invoke_ms) + log_window_ms;
        std::vector<std::pair<std::int64_t, std::string>> near;
        for (const auto& l : r.logs)
            for (const auto* list : {&l.transitions, &l.serving, &l.errors})
                for (const auto& line : *list)
                    if (line.at_ms >= from && line.at_ms <= to && printed_lines.insert(&line).second)
                        near.emplace_back(line.at_ms, line.broker + " " + line.text);
        for (const auto& e : entries)
            if (e.at_ms >= from && e.at_ms <= to && printed_events.insert(&e).second)
                near.emplace_back(e.at_ms, "harness: " + e.what);
        std::stable_sort(near.begin(), near.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 0; i < near.size() && i < max_log_lines_per_op; ++i)
            s += "      " + clock_text(near[i].first) + " " + near[i].second + "\n";
        if (near.size() > max_log_lines_per_op)
            s += "      ... " + std::to_string(near.size() - max_log_lines_per_op) + " more lines\n";
    }
    s += "\n" + render_summary(r.report, r.h);
    for (const auto& l : r.liveness) s += "liveness: " + l + "\n";
    return s;
}

}  // namespace starbus::chaos
