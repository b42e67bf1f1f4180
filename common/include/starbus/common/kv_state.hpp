// File: kv_state.hpp
// The replicated state, held by every broker and by every client that mirrors
// the server: the current key/value entries, the manifest of the file store
// (file changes travel in the same ordered log as keys), the position of the
// last applied change, and the recent applied requests (so that a retried
// request is answered again instead of applied twice, on whichever broker
// serves).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <starbus/common/file_manifest.hpp>
#include <starbus/common/types.hpp>

namespace starbus {

class kv_state {
  public:
    // Applies the next change. Returns false, changing nothing, when c.seq is
    // not last().seq + 1: the caller has missed something and must resync.
    [[nodiscard]] bool apply(const change& c);

    // Replaces everything with a snapshot taken at `at`: `entries` holds the
    // current keys (op put) and files (op file_put), as snapshot_entries() gives them.
    void install_snapshot(std::vector<change> entries, position at, std::vector<request_record> requests);

    void clear();

    [[nodiscard]] position last() const { return _last; }
    [[nodiscard]] const std::map<std::string, change, std::less<>>& entries() const { return _entries; }
    [[nodiscard]] const change* find(std::string_view key) const;
    // The file store's manifest: every file and its current version.
    [[nodiscard]] const file_manifest& files() const { return _files; }
    // Everything a full snapshot carries, keys first (in key order), then files
    // (in path order, as file_put changes).
    [[nodiscard]] std::vector<change> snapshot_entries() const;
    [[nodiscard]] std::optional<request_record> find_request(std::uint64_t client_id, std::uint64_t request_id) const;
    // Oldest first, at most limits::remembered_requests.
    [[nodiscard]] std::vector<request_record> requests() const { return {_requests.begin(), _requests.end()}; }

  private:
    void remember(const request_record& r);

    struct request_key {
        std::uint64_t client_id;
        std::uint64_t request_id;
        bool operator==(const request_key&) const = default;
    };
    struct request_key_hash {
        std::size_t operator()(const request_key& k) const noexcept {
            return std::hash<std::uint64_t>{}(k.client_id * 0x9E3779B97F4A7C15ull ^ k.request_id);
        }
    };

    std::map<std::string, change, std::less<>> _entries;  // key -> the put that wrote its value
    file_manifest _files;
    position _last;
    std::deque<request_record> _requests;
    std::unordered_map<request_key, request_record, request_key_hash> _request_index;
};

}  // namespace starbus
