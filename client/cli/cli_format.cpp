// File: cli_format.cpp
// What `starbus` prints: the status table and JSON, the dump lines and JSON,
// and the `set --stdin` line format it reads.
#include "cli.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>

#include <nlohmann/json.hpp>

namespace starbus::cli {
namespace {

// Binary or non-UTF-8 keys and values must not make the JSON writer throw.
std::string to_text(const nlohmann::json& j) {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_change_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto space = line.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    return std::make_pair(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
}

std::string render_status_text(const std::vector<broker_status>& rows) {
    constexpr std::size_t columns = 10;
    std::vector<std::array<std::string, columns>> table;
    table.push_back({"NAME", "RANK", "ROLE", "STATE", "EPOCH", "SEQ", "PENDING", "CLIENTS", "SERVER", "NOTE"});
    for (const auto& r : rows) {
        if (r.reachable) {
            table.push_back({r.name, std::to_string(r.rank), r.role, std::string(to_string(r.state)),
                             std::to_string(r.epoch), std::to_string(r.seq), std::to_string(r.pending),
                             std::to_string(r.clients), r.server.empty() ? "-" : r.server, r.note});
        } else {
            table.push_back({r.name, std::to_string(r.rank), r.role, "-", "-", "-", "-", "-", "-", r.note});
        }
    }
    std::array<std::size_t, columns> width{};
    for (const auto& row : table)
        for (std::size_t c = 0; c < columns; ++c) width[c] = std::max(width[c], row[c].size());
    std::string out;
    for (const auto& row : table) {
        std::string line;
        for (std::size_t c = 0; c < columns; ++c) {
            line += row[c];
            if (c + 1 < columns) line += std::string(width[c] - row[c].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string render_status_json(const std::vector<broker_status>& rows) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& r : rows) {
        array.push_back({
            {"name", r.name},
            {"rank", r.rank},
            {"role", r.role},
            {"epoch", r.epoch},
            {"seq", r.seq},
            {"pending", r.pending},
            {"pending_files", r.pending_files},
            {"pending_bytes", r.pending_bytes},
            {"clients", r.clients},
            {"reachable", r.reachable},
            {"state", r.reachable ? std::string(to_string(r.state)) : std::string("down")},
            {"server", r.server},
            {"note", r.note},
            {"protocol", r.protocol},
            {"release", r.release},
            {"libzmq", r.libzmq},
        });
    }
    return to_text(array);
}

std::string render_dump_text(const std::vector<change>& entries) {
    std::vector<const change*> sorted;
    sorted.reserve(entries.size());
    for (const auto& e : entries) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const change* a, const change* b) { return a->key < b->key; });
    std::string out;
    for (const auto* e : sorted) out += e->key + " " + e->value + "\n";
    return out;
}

std::string render_dump_json(const dump_result& d) {
    std::vector<const change*> sorted;
    sorted.reserve(d.entries.size());
    for (const auto& e : d.entries) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const change* a, const change* b) { return a->key < b->key; });
    nlohmann::json entries = nlohmann::json::array();
    for (const auto* e : sorted)
        entries.push_back({{"key", e->key}, {"value", e->value}, {"class", std::string(to_string(e->cls))}, {"seq", e->seq}});
    nlohmann::json root = {{"epoch", d.position.epoch}, {"seq", d.position.seq}, {"entries", std::move(entries)}};
    return to_text(root);
}

std::string render_files_text(const std::vector<file_entry>& files) {
    std::string out;
    for (const auto& f : files)
        out += f.path + "\t" + std::to_string(f.size) + "\t" + f.hash + "\t" + std::to_string(f.epoch) + ":" +
               std::to_string(f.seq) + "\n";
    return out;
}

std::string render_files_json(const std::vector<file_entry>& files) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& f : files)
        array.push_back({{"path", f.path},
                         {"size", f.size},
                         {"hash", f.hash},
                         {"xxh3", f.xxh},
                         {"epoch", f.epoch},
                         {"seq", f.seq},
                         {"position", {{"epoch", f.epoch}, {"seq", f.seq}}}});
    return to_text(array);
}

std::string render_access_text(const std::vector<access_list_entry>& entries) {
    std::string out;
    for (const auto& e : entries)
        out += e.name + "\t" + std::string(to_string(e.role)) + "\t" + e.public_key + "\t" +
               (e.from_file ? "file" : "granted") + "\n";
    return out;
}

std::string render_access_json(const std::vector<access_list_entry>& entries) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& e : entries)
        array.push_back({{"name", e.name},
                         {"role", std::string(to_string(e.role))},
                         {"public_key", e.public_key},
                         {"source", e.from_file ? "file" : "granted"}});
    return to_text(array);
}

std::string human_bytes(std::uint64_t bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string render_progress(const std::string& what, std::uint64_t done, std::uint64_t total, double rate_per_s,
                            bool bar) {
    // Built with append(): GCC 12 warns falsely (-Wrestrict) on some `"literal" + std::string` chains.
    const double fraction = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    std::string out = what;
    out.append(" ");
    if (bar) {
        constexpr std::size_t width = 30;
        const auto filled = static_cast<std::size_t>(fraction * width);
        out.append("[").append(filled, '=');
        if (filled < width) out.append(">").append(width - filled - 1, ' ');
        out.append("] ");
    }
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%%", fraction * 100);
    out.append(pct).append(" ").append(human_bytes(done)).append(" of ").append(human_bytes(total));
    out.append(", ").append(human_bytes(static_cast<std::uint64_t>(rate_per_s))).append("/s");
    if (rate_per_s > 0 && done < total) {
        const auto eta = static_cast<std::uint64_t>(static_cast<double>(total - done) / rate_per_s + 0.5);
        out.append(", ETA ");
        if (eta >= 3600) out.append(std::to_string(eta / 3600)).append(" h ");
        if (eta >= 60) out.append(std::to_string(eta / 60 % 60)).append(" min ");
        out.append(std::to_string(eta % 60)).append(" s");
    }
    return out;
}

}  // namespace starbus::cli
