// File: client_types.cpp
// Names of result statuses and one-line descriptions of events (client_types.hpp).
#include <starbus/client/client_types.hpp>

namespace starbus {

std::string_view to_string(result_status s) {
    switch (s) {
        case result_status::ok: return "ok";
        case result_status::refused: return "refused";
        case result_status::not_found: return "not found";
        case result_status::unreachable: return "unreachable";
        case result_status::invalid: return "invalid";
        case result_status::not_authorised: return "not_authorised";
    }
    return "unknown";
}

namespace {

struct describer {
    std::string operator()(const server_changed& e) const {
        return "server is now " + e.name + " (epoch " + std::to_string(e.epoch) + ")";
    }
    std::string operator()(const server_lost& e) const { return "lost server " + e.name + ": " + e.reason; }
    std::string operator()(const synchronised& e) const {
        return std::string("state synchronised at ") + std::to_string(e.epoch) + ":" + std::to_string(e.seq) +
               (e.full ? " (full snapshot)" : " (delta)");
    }
    std::string operator()(const change_refused& e) const {
        std::string s = "change of \"" + e.key + "\" refused: " + e.reason;
        if (!e.primary.empty()) s += " (primary: " + e.primary + ")";
        return s;
    }
    std::string operator()(const key_refused& e) const { return "not authorised: " + e.reason; }
    std::string operator()(const bus_gap& e) const {
        return "bus messages may have been missed: seqs " + std::to_string(e.from_seq) + " to " +
               std::to_string(e.through_seq) + " are no longer retained";
    }
};

}  // namespace

std::string describe(const client_event& e) { return std::visit(describer{}, e); }

}  // namespace starbus
