// File: final_state.hpp
// A broker's replica as read at the end of a chaos run, parsed from
// `starbus dump --json --from NAME`, optionally enriched with what the
// worker's own `dump` mode adds (each entry's epoch and client_id, which the
// CLI's JSON does not carry), and the cluster's roles from
// `starbus status --json`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starbus::chaos {

struct final_entry {
    std::string value;
    bool config = false;                     // class config (else operational)
    std::uint64_t seq = 0;                   // position of the change that wrote it
    std::optional<std::uint64_t> epoch;      // known only from the enriched dump
    std::optional<std::uint64_t> client_id;  // likewise; 0 for an internal change
};

struct replica_state {
    std::string broker;
    bool read = false;  // false: the dump failed, `error` says how
    std::string error;
    std::uint64_t epoch = 0;  // the position the dump was taken at
    std::uint64_t seq = 0;
    std::map<std::string, final_entry> entries;
};

// Parses the CLI's `dump --json` output into `out` (broker set by the
// caller). Returns false, with out.error set, when it is not such a document.
bool parse_dump_json(std::string_view text, replica_state& out);
// Adds epoch and client_id from the worker's dump to the entries of `out`
// whose key and seq match; returns how many entries it enriched.
std::size_t enrich_from_worker_dump(std::string_view text, replica_state& out);

struct broker_role {
    std::string name;
    bool reachable = false;
    std::string role;  // active, passive, syncing, down
    std::string state;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::uint64_t pending = 0;
    std::string server;
    std::string note;
};

// Parses `starbus status --json`; nullopt when it is not such a document.
[[nodiscard]] std::optional<std::vector<broker_role>> parse_status_json(std::string_view text);

// Exactly one broker active, every other passive, all at the same seq, the
// server with nothing pending: the cluster is at rest.
[[nodiscard]] bool settled(const std::vector<broker_role>& roles);
// The broker that is active, if exactly one is.
[[nodiscard]] std::optional<std::string> sole_active(const std::vector<broker_role>& roles);
// "A active 3/120, B passive 3/120, C down" for logs.
[[nodiscard]] std::string summarize(const std::vector<broker_role>& roles);

}  // namespace starbus::chaos
