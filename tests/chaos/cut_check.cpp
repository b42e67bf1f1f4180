// File: cut_check.cpp
// The replica-cut scenario's verdicts (see cut_check.hpp).
#include "cut_check.hpp"

#include "text_lines.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace starbus::chaos {

namespace {

using json = nlohmann::json;

// "+0.32 s" relative to `origin`.
std::string offset(std::int64_t at, std::int64_t origin) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%+.2f s", static_cast<double>(at - origin) / 1000.0);
    return buf;
}

std::string seconds(std::int64_t ms) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

std::string joined(const std::vector<std::string>& v, const char* sep = " and ") {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

bool in_cut(const cut_inputs& in, std::int64_t t) { return t >= in.cut_from_ms && t <= in.cut_to_ms; }

}  // namespace

std::string status_sample_line(std::int64_t at_ms, std::string_view source, std::string_view status_json_array) {
    json brokers;
    try {
        brokers = json::parse(status_json_array);
    } catch (const std::exception&) {
        brokers = json::array();
    }
    return json{{"t", at_ms}, {"source", std::string(source)}, {"brokers", std::move(brokers)}}.dump();
}

std::optional<status_sample> parse_status_sample(std::string_view line) {
    try {
        const json doc = json::parse(line);
        status_sample s;
        s.at_ms = doc.at("t").get<std::int64_t>();
        s.source = doc.value("source", "");
        auto roles = parse_status_json(doc.at("brokers").dump());
        if (!roles || roles->empty()) return std::nullopt;
        s.roles = std::move(*roles);
        return s;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::vector<status_sample> parse_status_samples(std::string_view text, std::size_t& bad) {
    std::vector<status_sample> out;
    for_each_line(text, [&](std::string_view line) {
        if (line.empty()) return;
        if (auto s = parse_status_sample(line)) out.push_back(std::move(*s));
        else ++bad;
    });
    return out;
}

std::vector<std::string> active_in(const status_sample& s) {
    std::vector<std::string> out;
    for (const auto& r : s.roles)
        if (r.reachable && r.role == "active") out.push_back(r.name);
    return out;
}

std::vector<overlap> find_overlaps(std::vector<status_sample> samples) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const status_sample& a, const status_sample& b) { return a.at_ms < b.at_ms; });
    std::vector<overlap> out;
    bool open = false;
    std::set<std::string> names;
    for (const auto& s : samples) {
        const auto active = active_in(s);
        if (active.size() < 2) {
            if (open) out.back().brokers.assign(names.begin(), names.end());
            open = false;
            continue;
        }
        if (!open) {
            out.push_back({s.at_ms, s.at_ms, {}, 0});
            names.clear();
            open = true;
        }
        out.back().to_ms = s.at_ms;
        ++out.back().samples;
        names.insert(active.begin(), active.end());
    }
    if (open) out.back().brokers.assign(names.begin(), names.end());
    return out;
}

std::optional<role_change> parse_role_change(const log_line& l) {
    // "fsm: FROM --EVENT--> TO [actions]: why"
    const std::string_view t = l.text;
    if (t.rfind("fsm: ", 0) != 0) return std::nullopt;
    const auto rest = t.substr(5);
    const auto open = rest.find(" --");
    const auto arrow = rest.find("--> ");
    if (open == std::string_view::npos || arrow == std::string_view::npos || arrow < open + 3) return std::nullopt;
    role_change c;
    c.broker = l.broker;
    c.at_ms = l.at_ms;
    c.from = std::string(rest.substr(0, open));
    c.event = std::string(rest.substr(open + 3, arrow - open - 3));
    const auto after = rest.substr(arrow + 4);
    c.to = std::string(after.substr(0, std::min(after.find(' '), after.size())));
    if (c.from.empty() || c.event.empty() || c.to.empty()) return std::nullopt;
    return c;
}

cut_report check_cut(const cut_inputs& in) {
    cut_report r;
    r.samples = in.samples.size();
    for (const auto& s : in.samples) r.samples_in_cut += in_cut(in, s.at_ms) ? 1 : 0;
    const std::int64_t cut_ms = in.cut_to_ms - in.cut_from_ms;
    auto note_takeover = [&](std::int64_t at, const std::string& who) {
        const auto after = at - in.cut_from_ms;
        if (!r.takeover_after_ms || after < *r.takeover_after_ms) {
            r.takeover_after_ms = after;
            r.takeover_by = who;
        }
    };
    const std::set<std::string> backups(in.backups.begin(), in.backups.end());

    // Two serving at once, in any sample of the run.
    r.overlaps = find_overlaps(in.samples);
    for (const auto& o : r.overlaps)
        r.violations.push_back("two brokers served at once: " + joined(o.brokers) + " reported active in " +
                               std::to_string(o.samples) + " consecutive status samples from " + clock_text(o.from_ms) +
                               " to " + clock_text(o.to_ms) + " (" + offset(o.from_ms, in.cut_from_ms) + " to " +
                               offset(o.to_ms, in.cut_from_ms) + " from the cut's start)");

    // A backup that reports active: it took over although nobody failed over.
    std::map<std::string, std::pair<std::size_t, std::int64_t>> backup_active;  // name -> (samples, first)
    for (const auto& s : in.samples)
        for (const auto& name : active_in(s)) {
            if (!backups.count(name)) continue;
            auto [it, fresh] = backup_active.try_emplace(name, 0, s.at_ms);
            ++it->second.first;
            it->second.second = std::min(it->second.second, s.at_ms);
        }
    for (const auto& [name, v] : backup_active) {
        note_takeover(v.second, name);
        r.violations.push_back("backup " + name + " served: it reported active in " + std::to_string(v.first) +
                               " status samples, the first at " + clock_text(v.second) + " (" +
                               offset(v.second, in.cut_from_ms) + " from the cut's start)");
    }

    // The logs: a backup's transition into active, the primary's out of it.
    std::vector<role_change> changes = in.changes;
    std::stable_sort(changes.begin(), changes.end(),
                     [](const role_change& a, const role_change& b) { return a.at_ms < b.at_ms; });
    std::map<std::string, std::int64_t> lost_server;  // backup -> first server_lost in the cut
    for (const auto& c : changes) {
        const std::string line = c.from + " --" + c.event + "--> " + c.to;
        if (backups.count(c.broker) && c.to == "active" && c.from != "active") {
            note_takeover(c.at_ms, c.broker);
            r.violations.push_back("backup " + c.broker + " took over: \"" + line + "\" at " + clock_text(c.at_ms) +
                                   " (" + offset(c.at_ms, in.cut_from_ms) + " from the cut's start)");
        }
        if (c.broker == in.primary && c.from == "active" && c.to != "active")
            r.violations.push_back("the primary " + in.primary + " stopped serving: \"" + line + "\" at " +
                                   clock_text(c.at_ms) + " (" + offset(c.at_ms, in.cut_from_ms) +
                                   " from the cut's start)");
        if (backups.count(c.broker) && c.event == "server_lost" && c.at_ms >= in.cut_from_ms)
            lost_server.try_emplace(c.broker, c.at_ms);
    }

    // The primary's acknowledgements through the cut.
    std::vector<std::int64_t> acks;
    std::map<std::string, std::size_t> others;
    std::size_t acks_before = 0;
    if (in.h)
        for (const auto& op : in.h->ops) {
            if (op.result != outcome::ok || !op.complete_ms || op.invoke_ms < in.load_from_ms) continue;
            if (*op.complete_ms < in.cut_from_ms && op.server == in.primary) ++acks_before;
            if (!in_cut(in, *op.complete_ms)) continue;
            if (op.server == in.primary) acks.push_back(*op.complete_ms);
            else if (!op.server.empty()) ++others[op.server];
        }
    std::sort(acks.begin(), acks.end());
    r.primary_acks_in_cut = acks.size();
    std::int64_t prev = in.cut_from_ms, gap_at = in.cut_from_ms;
    for (auto t : acks) {
        if (t - prev > r.longest_ack_gap_ms) {
            r.longest_ack_gap_ms = t - prev;
            gap_at = prev;
        }
        prev = t;
    }
    if (in.cut_to_ms - prev > r.longest_ack_gap_ms) {
        r.longest_ack_gap_ms = in.cut_to_ms - prev;
        gap_at = prev;
    }
    if (acks.empty())
        r.violations.push_back("the primary " + in.primary + " acknowledged no change of the load during the " +
                               seconds(cut_ms) + " cut");
    else if (r.longest_ack_gap_ms > in.max_ack_gap_ms)
        r.violations.push_back("the primary " + in.primary + " went " + std::to_string(r.longest_ack_gap_ms) +
                               " ms without acknowledging a change during the cut (from " + clock_text(gap_at) + ", " +
                               offset(gap_at, in.cut_from_ms) + "; at most " + std::to_string(in.max_ack_gap_ms) +
                               " ms allowed)");
    // A steady rate: not far below the rate before the cut (measured over at least a second of load).
    const std::int64_t before_ms = in.cut_from_ms - in.load_from_ms;
    if (before_ms > 0) r.rate_before = 1000.0 * static_cast<double>(acks_before) / static_cast<double>(before_ms);
    if (cut_ms > 0) r.rate_in_cut = 1000.0 * static_cast<double>(acks.size()) / static_cast<double>(cut_ms);
    if (!acks.empty() && before_ms >= 1000 && r.rate_in_cut < in.min_rate_ratio * r.rate_before) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%.1f/s during the cut against %.1f/s before it (at least %.0f %% wanted)",
                      r.rate_in_cut, r.rate_before, 100.0 * in.min_rate_ratio);
        r.violations.push_back("the primary " + in.primary + " acknowledged the load's changes at " + buf);
    }
    for (const auto& [name, n] : others) {
        r.other_acks_in_cut += n;
        r.violations.push_back(std::to_string(n) + " changes of the load were acknowledged by " + name +
                               " during the cut, not by the primary " + in.primary);
    }

    // Coverage: a pass must have looked.
    if (r.samples_in_cut < in.min_samples_in_cut)
        r.violations.push_back("only " + std::to_string(r.samples_in_cut) +
                               " status samples during the cut (at least " + std::to_string(in.min_samples_in_cut) +
                               " wanted): the two-serving check saw too little");
    if (in.monitor_calls_in_cut < in.min_monitor_calls_in_cut)
        r.violations.push_back("the monitoring host completed only " + std::to_string(in.monitor_calls_in_cut) +
                               " CLI calls during the cut (at least " + std::to_string(in.min_monitor_calls_in_cut) +
                               " wanted): the cut was not exercised as specified");

    // Figures.
    char rate[96];
    std::snprintf(rate, sizeof rate, "%.1f/s; %.1f/s before the cut", r.rate_in_cut, r.rate_before);
    r.figures.push_back(in.primary + " acknowledged " + std::to_string(acks.size()) +
                        " changes of the load during the " + seconds(cut_ms) + " cut (" + rate + "), longest gap " +
                        std::to_string(r.longest_ack_gap_ms) + " ms; other brokers acknowledged " +
                        std::to_string(r.other_acks_in_cut));
    r.figures.push_back("status samples: " + std::to_string(r.samples) + " (" + std::to_string(r.samples_in_cut) +
                        " during the cut), " + std::to_string(r.overlaps.size()) + " runs with two brokers active");
    for (const auto& b : in.backups) {
        auto it = lost_server.find(b);
        r.figures.push_back(b + " heard the primary fall silent " +
                            (it == lost_server.end() ? std::string("(no server_lost in its log)")
                                                     : offset(it->second, in.cut_from_ms) + " into the cut"));
    }
    if (r.takeover_after_ms)
        r.figures.push_back("takeover: " + r.takeover_by + " served " +
                            offset(in.cut_from_ms + *r.takeover_after_ms, in.cut_from_ms) + " from the cut's start");
    else r.figures.push_back("takeover: none (no backup served)");
    return r;
}

}  // namespace starbus::chaos
