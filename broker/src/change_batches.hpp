// File: change_batches.hpp
// How changes leave the broker in messages of bounded size (CHANGES,
// SNAPSHOT-PART), and the full or delta snapshot that a replica's REPL-HELLO or
// a client's SNAPSHOT is answered with.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <starbus/wire/messages.hpp>

#include "broker_sink.hpp"
#include "local_replica.hpp"

namespace starbus {

// The payload one CHANGES or SNAPSHOT-PART carries, at most (and at least one change).
inline constexpr std::size_t chunk_bytes = 1u << 20;

// Cuts `changes` into messages of at most `max_bytes` of payload (and at least
// one change each), calling `send` for each piece.
template <typename Fn>
void for_each_chunk(const std::vector<change>& changes, std::size_t max_bytes, Fn&& send) {
    std::vector<change> piece;
    std::size_t bytes = 0;
    for (const auto& c : changes) {
        const std::size_t size = c.key.size() + c.value.size() + 48;
        if (!piece.empty() && bytes + size > max_bytes) {
            send(std::move(piece));
            piece = {};
            bytes = 0;
        }
        piece.push_back(c);
        bytes += size;
    }
    if (!piece.empty()) send(std::move(piece));
}

// The same cut, consuming `changes`: the pieces are moved out of it, and when everything fits one message the
// vector itself is handed on (the live stream to one replica: no copy of any key or value).
template <typename Fn>
void for_each_chunk(std::vector<change>&& changes, std::size_t max_bytes, Fn&& send) {
    std::size_t total = 0;
    for (const auto& c : changes) total += c.key.size() + c.value.size() + 48;
    if (total <= max_bytes || changes.size() <= 1) {
        if (!changes.empty()) send(std::move(changes));
        return;
    }
    std::vector<change> piece;
    std::size_t bytes = 0;
    for (auto& c : changes) {
        const std::size_t size = c.key.size() + c.value.size() + 48;
        if (!piece.empty() && bytes + size > max_bytes) {
            send(std::move(piece));
            piece = {};
            bytes = 0;
        }
        piece.push_back(std::move(c));
        bytes += size;
    }
    if (!piece.empty()) send(std::move(piece));
}

// Answers a SNAPSHOT (or a replica's REPL-HELLO) from `from`: a delta when `from` is in the history, else a full
// snapshot; for a replica (`epochs` given), a full snapshot names the fork between its history and ours.
// Returns how many entries (changes of a delta, or keys and files of a full snapshot) it sent.
std::size_t send_snapshot(const local_replica& replica, std::uint64_t commit_seq, broker_sink& out,
                          const std::string& identity, std::uint64_t request_id, position from,
                          const std::vector<epoch_span>* epochs = nullptr);

}  // namespace starbus
