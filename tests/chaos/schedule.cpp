// File: schedule.cpp
// Drawing the fault schedule from the seed (see schedule.hpp). Every draw
// goes through chaos::rng, never the standard distributions, so a seed
// means the same schedule with every compiler and standard library.
#include "schedule.hpp"

#include <algorithm>

#include "rng.hpp"

namespace starbus::chaos {

namespace {

using std::chrono::milliseconds;

constexpr fault_kind every_kind[] = {fault_kind::kill, fault_kind::stop, fault_kind::partition, fault_kind::netem,
                                     fault_kind::disk};

// A broker to hit. Half the draws pick the primary, which serves most of the
// time: a fault on a replica exercises less of the protocol.
std::size_t pick_broker(rng& r, std::size_t brokers) {
    if (brokers <= 1 || r.chance(50)) return 0;
    return static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(brokers) - 1));
}

// Splits every host into two non-empty groups. When there are two brokers
// or more, brokers sit on both sides: a cut between clients alone says little.
// Half the draws isolate one broker from the others (the shape of
// protocol.md's "a server cut off from every replica"); the other half
// split the brokers at random. Client hosts then join either side at random.
void draw_partition(rng& r, const schedule_params& p, fault& f) {
    const std::size_t hosts = p.brokers + p.other_hosts;
    std::vector<bool> on_a(hosts, false);
    if (p.brokers >= 2) {
        if (r.chance(50)) {
            on_a[pick_broker(r, p.brokers)] = true;
        } else {
            std::size_t count_a = 0;
            for (std::size_t b = 0; b < p.brokers; ++b) count_a += (on_a[b] = r.chance(50)) ? 1 : 0;
            // Both sides need a broker: move one across when a side is empty.
            if (count_a == 0)
                on_a[static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(p.brokers) - 1))] = true;
            if (count_a == p.brokers)
                on_a[static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(p.brokers) - 1))] = false;
        }
        for (std::size_t h = p.brokers; h < hosts; ++h) on_a[h] = r.chance(50);
    } else {
        // A single broker: cut it, with some clients, from the other clients.
        on_a[0] = true;
        for (std::size_t h = 1; h < hosts; ++h) on_a[h] = r.chance(50);
        if (std::count(on_a.begin(), on_a.end(), true) == static_cast<std::ptrdiff_t>(hosts) && hosts > 1)
            on_a[hosts - 1] = false;
    }
    for (std::size_t h = 0; h < hosts; ++h) (on_a[h] ? f.side_a : f.side_b).push_back(h);
}

void draw_netem(rng& r, const schedule_params& p, fault& f) {
    const std::size_t hosts = p.brokers + p.other_hosts;
    // Two thirds on a broker's link, where delay decides failovers.
    f.target = r.chance(67) ? pick_broker(r, p.brokers)
                            : static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(hosts) - 1));
    f.delay_ms = static_cast<int>(r.between(10, 250));
    f.jitter_ms = static_cast<int>(r.between(0, f.delay_ms / 4));
    f.loss_pct = static_cast<int>(r.chance(70) ? r.between(0, 25) : 0);
}

}  // namespace

std::string_view to_string(fault_kind k) {
    switch (k) {
        case fault_kind::kill: return "kill";
        case fault_kind::stop: return "stop";
        case fault_kind::partition: return "partition";
        case fault_kind::netem: return "netem";
        case fault_kind::disk: return "disk";
    }
    return "?";
}

std::optional<fault_kind> parse_fault_kind(std::string_view s) {
    for (auto k : every_kind)
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::optional<std::vector<fault_kind>> parse_fault_kinds(std::string_view list, std::string& bad) {
    std::vector<fault_kind> out;
    while (!list.empty()) {
        const auto comma = list.find(',');
        const auto item = list.substr(0, comma);
        if (!item.empty()) {
            auto k = parse_fault_kind(item);
            if (!k) {
                bad = std::string(item);
                return std::nullopt;
            }
            if (std::find(out.begin(), out.end(), *k) == out.end()) out.push_back(*k);
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

std::vector<fault_kind> all_fault_kinds() { return {std::begin(every_kind), std::end(every_kind)}; }

std::vector<fault> make_schedule(const schedule_params& p) {
    std::vector<fault> out;
    if (p.kinds.empty() || p.brokers == 0) return out;
    rng r(p.seed);
    const milliseconds last_heal = p.duration - p.quiet_end;
    milliseconds t = p.quiet_start;
    // Bounded: each fault advances t by at least min_fault + min_gap (>= 2 ms).
    const auto step_floor = std::max<std::int64_t>(2, (p.min_fault + p.min_gap).count());
    const auto max_faults = p.duration.count() / step_floor + 1;
    for (std::int64_t n = 0; n < max_faults; ++n) {
        fault f;
        f.kind = p.kinds[static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(p.kinds.size()) - 1))];
        const milliseconds length(r.between(p.min_fault.count(), p.max_fault.count()));
        if (t + length > last_heal) break;
        f.start = t;
        f.end = t + length;
        switch (f.kind) {
            case fault_kind::kill:
            case fault_kind::stop:
            case fault_kind::disk: f.target = pick_broker(r, p.brokers); break;
            case fault_kind::partition: draw_partition(r, p, f); break;
            case fault_kind::netem: draw_netem(r, p, f); break;
        }
        out.push_back(std::move(f));
        t = out.back().end + milliseconds(r.between(p.min_gap.count(), p.max_gap.count()));
    }
    return out;
}

std::string describe(const fault& f, const std::vector<std::string>& host_names) {
    // Built with append: GCC 12 at -O3 warns (-Wrestrict, a false positive)
    // on "literal" + std::string temporaries.
    auto name = [&](std::size_t h) {
        if (h < host_names.size()) return host_names[h];
        std::string s = "#";
        return s.append(std::to_string(h));
    };
    auto group = [&](const std::vector<std::size_t>& g) {
        std::string s = "{";
        for (std::size_t i = 0; i < g.size(); ++i) s.append(i ? " " : "").append(name(g[i]));
        return s.append("}");
    };
    std::string s(to_string(f.kind));
    switch (f.kind) {
        case fault_kind::kill: return s + " " + name(f.target) + " (SIGKILL, restart at heal)";
        case fault_kind::stop: return s + " " + name(f.target) + " (SIGSTOP, SIGCONT at heal)";
        case fault_kind::disk: return s + " " + name(f.target) + " (data disk full)";
        case fault_kind::partition: return s + " " + group(f.side_a) + " | " + group(f.side_b);
        case fault_kind::netem:
            return s + " " + name(f.target) + " (delay " + std::to_string(f.delay_ms) + " ms +/- " +
                   std::to_string(f.jitter_ms) + " ms, loss " + std::to_string(f.loss_pct) + " %)";
    }
    return s;
}

}  // namespace starbus::chaos
