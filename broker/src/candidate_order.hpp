// File: candidate_order.hpp
// Who may serve, as two named orders instead of tuples written inline:
//   serving_claim     a broker that announces serving: the higher epoch wins,
//                     among equal epochs (a transient double claim) the lower
//                     rank. Followers pick the server to follow by it; a server
//                     steps down for a claim that beats its own.
//   held_position     a cold-start candidate: the newer last change
//                     (last_epoch, then seq) wins, ties to the lower rank.
// Both end on the rank so that every broker, whatever it heard first, reaches
// the same answer (docs/protocol.md "Split-brain prevention"). Ranks break ties
// downwards because rank 0 is the primary, the broker operators prefer.
#pragma once

#include <cstdint>

#include <starbus/wire/messages.hpp>
#include <starbus/wire/types.hpp>

namespace starbus {

// A broker's claim to the role: the epoch it serves in and its rank.
struct serving_claim {
    std::uint64_t epoch = 0;
    std::uint32_t rank = 0;

    // a < b: a yields to b (b's epoch is higher, or equal with a lower rank).
    friend constexpr bool operator<(const serving_claim& a, const serving_claim& b) {
        if (a.epoch != b.epoch) return a.epoch < b.epoch;
        return a.rank > b.rank;
    }
};

// The claim a heartbeat makes (whatever state it announces: the caller checks that it serves).
[[nodiscard]] inline serving_claim claim_of(const heartbeat& hb) { return {hb.epoch, hb.rank}; }

// True when `a` beats `b`: the broker of claim `b` must yield to the one of `a`.
[[nodiscard]] constexpr bool beats(const serving_claim& a, const serving_claim& b) { return b < a; }

// A cold-start candidate: the position of its last change and its rank.
struct held_position {
    position last;  // (epoch of the last change, its seq)
    std::uint32_t rank = 0;

    // a < b: b holds a newer last change, or the same one at a lower rank.
    friend constexpr bool operator<(const held_position& a, const held_position& b) {
        if (a.last.epoch != b.last.epoch) return a.last.epoch < b.last.epoch;
        if (a.last.seq != b.last.seq) return a.last.seq < b.last.seq;
        return a.rank > b.rank;
    }
};

// The position a heartbeat announces (its last change's epoch and seq).
[[nodiscard]] inline held_position held_by(const heartbeat& hb) { return {{hb.last_epoch, hb.seq}, hb.rank}; }

// True when `a` is the better cold-start choice than `b`.
[[nodiscard]] constexpr bool beats(const held_position& a, const held_position& b) { return b < a; }

}  // namespace starbus
