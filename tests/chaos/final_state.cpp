// File: final_state.cpp
// Parsing the CLI's dump and status JSON for the checker and the settle
// loop (see final_state.hpp).
#include "final_state.hpp"

#include <nlohmann/json.hpp>

namespace starbus::chaos {

using json = nlohmann::json;

bool parse_dump_json(std::string_view text, replica_state& out) {
    try {
        const json doc = json::parse(text);
        out.epoch = doc.at("epoch");
        out.seq = doc.at("seq");
        out.entries.clear();
        for (const auto& e : doc.at("entries")) {
            final_entry fe;
            fe.value = e.at("value");
            fe.config = e.value("class", "operational") == "config";
            fe.seq = e.value("seq", std::uint64_t{0});
            if (e.contains("epoch")) fe.epoch = e.at("epoch").get<std::uint64_t>();
            if (e.contains("client_id")) fe.client_id = e.at("client_id").get<std::uint64_t>();
            out.entries[e.at("key").get<std::string>()] = std::move(fe);
        }
        out.read = true;
        return true;
    } catch (const std::exception& e) {
        out.read = false;
        out.error = std::string("not a dump document: ") + e.what();
        return false;
    }
}

std::size_t enrich_from_worker_dump(std::string_view text, replica_state& out) {
    replica_state extra;
    if (!parse_dump_json(text, extra)) return 0;
    std::size_t n = 0;
    for (auto& [key, entry] : out.entries) {
        auto it = extra.entries.find(key);
        if (it == extra.entries.end() || it->second.seq != entry.seq || it->second.value != entry.value) continue;
        entry.epoch = it->second.epoch;
        entry.client_id = it->second.client_id;
        ++n;
    }
    return n;
}

std::optional<std::vector<broker_role>> parse_status_json(std::string_view text) {
    try {
        const json doc = json::parse(text);
        std::vector<broker_role> out;
        for (const auto& b : doc) {
            broker_role r;
            r.name = b.at("name");
            r.reachable = b.value("reachable", false);
            r.role = b.value("role", "down");
            // A broker that did not answer has nulls for its numbers.
            auto number = [&](const char* k) {
                return b.contains(k) && b.at(k).is_number_unsigned() ? b.at(k).get<std::uint64_t>() : 0;
            };
            auto text_of = [&](const char* k) {
                return b.contains(k) && b.at(k).is_string() ? b.at(k).get<std::string>() : std::string();
            };
            r.state = text_of("state");
            r.epoch = number("epoch");
            r.seq = number("seq");
            r.pending = number("pending");
            r.server = text_of("server");
            r.note = text_of("note");
            out.push_back(std::move(r));
        }
        return out;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool settled(const std::vector<broker_role>& roles) {
    if (roles.empty()) return false;
    std::size_t active = 0;
    std::uint64_t seq = 0;
    for (const auto& r : roles) {
        if (!r.reachable) return false;
        if (r.role == "active") {
            ++active;
            if (r.pending != 0) return false;
            seq = r.seq;
        } else if (r.role != "passive") {
            return false;
        }
    }
    if (active != 1) return false;
    for (const auto& r : roles)
        if (r.seq != seq) return false;
    return true;
}

std::optional<std::string> sole_active(const std::vector<broker_role>& roles) {
    std::optional<std::string> out;
    for (const auto& r : roles) {
        if (r.role != "active") continue;
        if (out) return std::nullopt;
        out = r.name;
    }
    return out;
}

std::string summarize(const std::vector<broker_role>& roles) {
    std::string s;
    for (const auto& r : roles) {
        if (!s.empty()) s += ", ";
        s += r.name + " " + r.role;
        // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
        // positive) on "literal" + std::string temporaries.
        if (r.reachable) s.append(" ").append(std::to_string(r.epoch)).append("/").append(std::to_string(r.seq));
        if (r.reachable && r.role != "active" && r.role != "passive" && !r.note.empty())
            s.append(" (").append(r.note).append(")");
    }
    return s;
}

}  // namespace starbus::chaos
