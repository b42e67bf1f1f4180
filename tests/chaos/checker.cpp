// File: checker.cpp
// The key/value, convergence and configuration-epoch checks, and the
// summary (see checker.hpp). The bus streams are checked in bus_check.cpp.
#include "checker.hpp"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include "broker_log.hpp"
#include "bus_check.hpp"

namespace starbus::chaos {

namespace {

bool is_change(const op_record& op) { return op.kind == op_kind::set_op || op.kind == op_kind::set_config; }

std::string op_name(const op_record& op) { return op.process + "#" + std::to_string(op.index); }

const replica_state* pick_reference(const std::vector<replica_state>& replicas, const std::string& name) {
    for (const auto& r : replicas)
        if (r.read && r.broker == name) return &r;
    for (const auto& r : replicas)
        if (r.read) return &r;
    return nullptr;
}

void check_changes(const history& h, const replica_state& ref, const checker_options& opt, check_report& out) {
    kv_report& kv = out.kv;
    kv.reference = ref.broker;
    // (key, value) pairs the workers sent, to find what nobody sent.
    std::unordered_map<std::string, std::vector<std::string>> sent;
    for (std::size_t i = 0; i < h.ops.size(); ++i) {
        const op_record& op = h.ops[i];
        if (!is_change(op)) continue;
        sent[op.key].push_back(op.value);
        const auto it = ref.entries.find(op.key);
        const bool present = it != ref.entries.end() && it->second.value == op.value;
        change_verdict v = change_verdict::not_applied;
        std::string why;
        switch (op.result) {
            case outcome::ok:
                v = present ? change_verdict::ok : change_verdict::lost;
                // Same epoch as the acknowledgement, later seq: the key was
                // written again after its acknowledgement.
                if (present && it->second.epoch && *it->second.epoch == op.epoch && it->second.seq > op.seq)
                    v = change_verdict::duplicated;
                break;
            case outcome::info: v = present ? change_verdict::recovered : change_verdict::not_applied; break;
            case outcome::fail: v = present ? change_verdict::failed_present : change_verdict::not_applied; break;
        }
        ++kv.counts[v];
        const std::string where = "on " + ref.broker;
        switch (v) {
            case change_verdict::lost:
                why = "lost: " + op_name(op) + " set " + op.key + " acknowledged by " + op.server + " at (" +
                      std::to_string(op.epoch) + ", " + std::to_string(op.seq) + "), absent " + where;
                break;
            case change_verdict::failed_present:
                why = "failed-but-present: " + op_name(op) + " set " + op.key + " was answered \"" + op.message +
                      "\" yet is present " + where;
                break;
            case change_verdict::duplicated:
                why = "duplicated: " + op_name(op) + " set " + op.key + " acknowledged at (" +
                      std::to_string(op.epoch) + ", " + std::to_string(op.seq) + ") but written again at seq " +
                      std::to_string(it->second.seq) + " " + where;
                break;
            default: break;
        }
        if (!why.empty()) {
            kv.flagged.emplace_back(i, v);
            out.violations.push_back(why);
            out.involved_ops.push_back(i);
        }
        if (present && it->second.config != (op.kind == op_kind::set_config)) {
            out.violations.push_back("wrong class: " + op_name(op) + " set " + op.key + " as " +
                                     std::string(to_string(op.kind)) + " but it is held as " +
                                     (it->second.config ? "config" : "operational") + " " + where);
            out.involved_ops.push_back(i);
        }
    }
    for (const auto& [key, entry] : ref.entries) {
        if (key.rfind(opt.key_prefix, 0) != 0) continue;
        const auto s = sent.find(key);
        if (s != sent.end() && std::find(s->second.begin(), s->second.end(), entry.value) != s->second.end()) continue;
        kv.unexpected.push_back(key + " = " + entry.value);
        out.violations.push_back("unexpected: " + key + " = " + entry.value + " on " + ref.broker +
                                 ", which no worker sent");
    }
}

// Groups the flagged changes by verdict, acknowledging server and epoch.
void summarize_incidents(const history& h, kv_report& kv) {
    struct group {
        std::size_t n = 0;
        std::uint64_t seq_lo = UINT64_MAX, seq_hi = 0;
        std::int64_t t_lo = INT64_MAX, t_hi = INT64_MIN;
    };
    std::map<std::tuple<change_verdict, std::string, std::uint64_t>, group> groups;
    for (const auto& [i, v] : kv.flagged) {
        const op_record& op = h.ops[i];
        group& g = groups[{v, op.server, op.epoch}];
        ++g.n;
        if (op.seq) {
            g.seq_lo = std::min(g.seq_lo, op.seq);
            g.seq_hi = std::max(g.seq_hi, op.seq);
        }
        const auto t = op.complete_ms.value_or(op.invoke_ms);
        g.t_lo = std::min(g.t_lo, t);
        g.t_hi = std::max(g.t_hi, t);
    }
    for (const auto& [key, g] : groups) {
        const auto& [v, server, epoch] = key;
        std::string s = std::to_string(g.n) + " " + std::string(to_string(v)) + " change" + (g.n == 1 ? "" : "s");
        if (v == change_verdict::lost || v == change_verdict::duplicated)
            s += " acknowledged by " + server + " in epoch " + std::to_string(epoch);
        else if (!server.empty()) s += " answered by " + server;
        if (g.seq_hi) s += " (seq " + std::to_string(g.seq_lo) + ".." + std::to_string(g.seq_hi) + ")";
        s += ", completed " + clock_text(g.t_lo) + " .. " + clock_text(g.t_hi);
        kv.incidents.push_back(std::move(s));
    }
}

void check_convergence(const std::vector<replica_state>& replicas, const replica_state& ref, check_report& out) {
    convergence_report& c = out.convergence;
    auto note = [&](const std::string& s) {
        ++c.differences;
        if (c.samples.size() < 8) c.samples.push_back(s);
    };
    for (const auto& r : replicas) {
        if (&r == &ref) continue;
        if (!r.read) {
            c.converged = false;
            out.violations.push_back("divergence: the final state of " + r.broker + " could not be read (" + r.error +
                                     ")");
            continue;
        }
        const std::size_t before = c.differences;
        for (const auto& [key, e] : ref.entries) {
            auto it = r.entries.find(key);
            if (it == r.entries.end()) note(r.broker + " lacks " + key + " (seq " + std::to_string(e.seq) + ")");
            else if (it->second.value != e.value || it->second.seq != e.seq)
                note(r.broker + " holds " + key + " = " + it->second.value + " at seq " +
                     std::to_string(it->second.seq) + ", " + ref.broker + " " + e.value + " at seq " +
                     std::to_string(e.seq));
        }
        for (const auto& [key, e] : r.entries)
            if (!ref.entries.count(key)) note(r.broker + " holds " + key + " that " + ref.broker + " lacks");
        if (r.seq != ref.seq || r.epoch != ref.epoch)
            note(r.broker + " is at (" + std::to_string(r.epoch) + ", " + std::to_string(r.seq) + "), " + ref.broker +
                 " at (" + std::to_string(ref.epoch) + ", " + std::to_string(ref.seq) + ")");
        if (c.differences != before) {
            c.converged = false;
            out.violations.push_back("divergence: " + r.broker + " differs from " + ref.broker + " in " +
                                     std::to_string(c.differences - before) + " entries");
        }
    }
}

void check_config_epochs(const history& h, const replica_state* ref, const std::vector<serving_claim>& serving,
                         const checker_options& opt, check_report& out) {
    config_report& c = out.config;
    for (const auto& s : serving) c.serving_by_epoch[s.epoch].insert(s.broker);
    for (std::size_t i = 0; i < h.ops.size(); ++i) {
        const op_record& op = h.ops[i];
        if (op.kind != op_kind::set_config || op.result != outcome::ok) continue;
        // Who accepted it: the author of the acknowledgement's epoch when the brokers are known (a backup
        // that answers a retry of the primary's change reports the primary's position), else who answered.
        const std::size_t author = static_cast<std::size_t>(op.epoch % 256);
        const std::string server = op.epoch != 0 && author < opt.brokers.size() ? opt.brokers[author]
                                   : op.server.empty()                          ? "?"
                                                                                : op.server;
        // Epoch 0: an acknowledgement without a position: it names no epoch to check.
        if (op.epoch != 0) c.acked_by_epoch[op.epoch].insert(server);
        if (!opt.primary.empty() && server != opt.primary) {
            out.violations.push_back("config accepted by a backup: " + op_name(op) + " set --config " + op.key +
                                     " acknowledged by " + server + " at epoch " + std::to_string(op.epoch) +
                                     " (only " + opt.primary + " may take configuration changes)");
            out.involved_ops.push_back(i);
        }
    }
    for (const auto& [epoch, servers] : c.acked_by_epoch) {
        if (servers.size() < 2) continue;
        std::string list;
        for (const auto& s : servers) list += (list.empty() ? "" : ", ") + s;
        out.violations.push_back("two brokers accepted configuration changes in epoch " + std::to_string(epoch) + ": " +
                                 list);
    }
    for (const auto& [epoch, brokers] : c.serving_by_epoch) {
        if (brokers.size() < 2) continue;
        std::string list;
        for (const auto& b : brokers) list += (list.empty() ? "" : " and ") + b;
        c.notes.push_back("epoch " + std::to_string(epoch) + " was served by " + list +
                          " (the protocol resolves equal epochs by rank)");
    }
    // Configuration entries held at the end: the epoch that wrote each must be
    // one the primary served.
    if (!ref || opt.primary.empty()) return;
    for (const auto& [key, e] : ref->entries) {
        if (!e.config || !e.epoch || key.rfind(opt.key_prefix, 0) != 0) continue;
        auto it = c.serving_by_epoch.find(*e.epoch);
        if (it == c.serving_by_epoch.end() || it->second.count(opt.primary)) continue;
        std::string list;
        for (const auto& b : it->second) list += (list.empty() ? "" : ", ") + b;
        out.violations.push_back("configuration entry " + key + " was written in epoch " + std::to_string(*e.epoch) +
                                 ", which only " + list + " served (not the primary " + opt.primary + ")");
    }
}

}  // namespace

std::string_view to_string(change_verdict v) {
    switch (v) {
        case change_verdict::ok: return "ok";
        case change_verdict::lost: return "lost";
        case change_verdict::recovered: return "recovered";
        case change_verdict::not_applied: return "not-applied";
        case change_verdict::failed_present: return "failed-but-present";
        case change_verdict::duplicated: return "duplicated";
    }
    return "?";
}

check_report check(const history& h, const std::vector<replica_state>& replicas, const std::string& reference,
                   const std::vector<serving_claim>& serving, const checker_options& options) {
    check_report out;
    for (const auto& op : h.ops)
        ++out.op_counts[std::string(to_string(op.kind)) + " " + std::string(to_string(op.result))];
    if (h.bad_lines) out.violations.push_back(std::to_string(h.bad_lines) + " history lines could not be read");
    const replica_state* ref = pick_reference(replicas, reference);
    if (!ref) {
        out.violations.push_back("no broker's final state could be read: nothing to check the history against");
    } else {
        check_changes(h, *ref, options, out);
        summarize_incidents(h, out.kv);
        check_convergence(replicas, *ref, out);
    }
    check_config_epochs(h, ref, serving, options, out);
    check_bus(h, options, out.bus, out.violations);
    std::sort(out.involved_ops.begin(), out.involved_ops.end());
    out.involved_ops.erase(std::unique(out.involved_ops.begin(), out.involved_ops.end()), out.involved_ops.end());
    return out;
}

std::string render_summary(const check_report& r, const history& h) {
    std::string s = "operations:";
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on " " + std::to_string(n) chains here.
    for (const auto& [k, n] : r.op_counts) s.append(" ").append(k).append(" ").append(std::to_string(n)).append(";");
    s += "\nchanges on " + (r.kv.reference.empty() ? std::string("?") : r.kv.reference) + ":";
    for (const auto& [v, n] : r.kv.counts)
        s.append(" ").append(to_string(v)).append(" ").append(std::to_string(n)).append(";");
    s += " unexpected " + std::to_string(r.kv.unexpected.size()) + "\n";
    for (const auto& i : r.kv.incidents) s += "  incident: " + i + "\n";
    s += "replicas " + std::string(r.convergence.converged ? "converged" : "DIVERGED") + " (" +
         std::to_string(r.convergence.differences) + " differences)\n";
    for (const auto& d : r.convergence.samples) s += "  " + d + "\n";
    s += "configuration changes acknowledged per epoch:";
    for (const auto& [e, servers] : r.config.acked_by_epoch) {
        s += ' ';
        s += std::to_string(e);
        s += ':';
        for (const auto& b : servers) s += b;
    }
    s += "\nserving epochs (logs):";
    for (const auto& [e, brokers] : r.config.serving_by_epoch) {
        s += ' ';
        s += std::to_string(e);
        s += ':';
        for (const auto& b : brokers) s += b;
    }
    s += "\n";
    for (const auto& n : r.config.notes) s += "  note: " + n + "\n";
    s += "bus: " + std::to_string(h.messages.size()) + " messages received by " + std::to_string(h.subscribers.size()) +
         " subscribers; missed " + std::to_string(r.bus.missed) + " (covered by gap events " +
         std::to_string(r.bus.covered) + "), duplicates " + std::to_string(r.bus.duplicates) + ", out of order " +
         std::to_string(r.bus.out_of_order) + " (exempt: replayed by reconciliation " + std::to_string(r.bus.reconciled) +
         ", of unknown outcome " + std::to_string(r.bus.indeterminate) + "; order checked within each history, " +
         std::to_string(r.bus.forks_crossed) + " crossings between histories), unexpected " +
         std::to_string(r.bus.unexpected) + "\n";
    if (r.violations.empty()) {
        s += "no violations\n";
        return s;
    }
    // At most a few of each kind (the text before the first ':'), so that one
    // incident of a hundred lost writes does not hide a different finding.
    constexpr std::size_t per_kind = 5;
    s += std::to_string(r.violations.size()) + " violations:\n";
    std::map<std::string, std::size_t> shown, hidden;
    for (const auto& v : r.violations) {
        const std::string kind = v.substr(0, v.find(':'));
        if (shown[kind] < per_kind) {
            ++shown[kind];
            s += "  " + v + "\n";
        } else {
            ++hidden[kind];
        }
    }
    for (const auto& [kind, n] : hidden) s += "  ... and " + std::to_string(n) + " more of " + kind + "\n";
    return s;
}

}  // namespace starbus::chaos
