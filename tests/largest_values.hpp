// File: largest_values.hpp
// The largest values the system itself produces, for tests that check that
// every decoder (files on disk and the wire) admits them: the longest key and
// value, the longest remote path, integers of the widest encoding, and a
// history as long as a cluster that has lived through more takeovers than
// kv_state keeps epochs for and more requests than it remembers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <starbus/wire/file_path.hpp>
#include <starbus/state/kv_state.hpp>
#include <starbus/wire/types.hpp>

#include "change_builders.hpp"

namespace starbus::test {

// MessagePack's widest unsigned integer (9 bytes): client ids are random 64-bit numbers.
inline constexpr std::uint64_t widest = ~std::uint64_t{0};

// prefix + n, spelled so that GCC 12 does not warn (a -Wrestrict false positive on "k" + std::to_string(n)).
inline std::string numbered(std::string_view prefix, std::uint64_t n) {
    std::string out(prefix);
    out += std::to_string(n);
    return out;
}

inline std::string largest_key() { return std::string(limits::max_key_bytes, 'k'); }
inline std::string largest_value() { return std::string(limits::max_value_bytes, 'v'); }

// A canonical remote path of exactly file_limits::max_path_bytes bytes in
// file_limits::max_depth components.
inline std::string longest_path() {
    const std::size_t depth = file_limits::max_depth;
    const std::size_t letters = file_limits::max_path_bytes - (depth - 1);  // less the '/' between components
    std::string out;
    for (std::size_t i = 0; i < depth; ++i) {
        if (i > 0) out += '/';
        out.append(letters / depth + (i < letters % depth ? 1 : 0), static_cast<char>('a' + i % 26));
    }
    return out;
}

// The epoch of the n-th takeover (n >= 1), by brokers of ranks 0, 1, 2 in turn (types.hpp next_epoch).
inline std::uint64_t takeover_epoch(std::size_t n) { return n * epoch_stride + n % 3; }

// A history and the state it makes.
struct history {
    std::vector<change> changes;
    kv_state state;

    void apply(const change& c) {
        changes.push_back(c);
        const bool applied = state.apply(c);
        (void)applied;  // the builders below make consecutive seqs only
    }
    [[nodiscard]] std::uint64_t next_seq() const { return state.last().seq + 1; }
};

// `takeovers` epochs of `per_epoch` client puts each (keys k0 .. k999, client
// and request ids of the widest encoding), then, in the last epoch, the
// longest key with the largest value, a file at the longest path and a bus
// message of the longest topic and largest payload. With the defaults, more
// epochs than limits::max_epoch_spans and more requests than
// limits::remembered_requests: the state is as large as kv_state lets it grow.
inline history largest_history(std::size_t takeovers = limits::max_epoch_spans + 76,
                               std::size_t per_epoch = limits::remembered_requests / limits::max_epoch_spans + 1) {
    history h;
    for (std::size_t t = 1; t <= takeovers; ++t)
        for (std::size_t i = 0; i < per_epoch; ++i) {
            const std::uint64_t seq = h.next_seq();
            h.apply(put(takeover_epoch(t), seq, numbered("k", seq % 1000), numbered("v", seq), widest - seq % 7,
                        widest - seq));
        }
    const std::uint64_t last_epoch = takeover_epoch(takeovers);
    h.apply(put(last_epoch, h.next_seq(), largest_key(), largest_value(), widest, widest));
    h.apply(file_put(last_epoch, h.next_seq(), longest_path(), widest, std::string(64, 'e'), std::string(32, 'f')));
    change message = put(last_epoch, h.next_seq(), std::string(limits::max_topic_bytes, 't'),
                         std::string(limits::max_payload_bytes, 'p'), widest - 1, widest - 1);
    message.op = change_op::publish;
    message.time_ms = 1'800'000'000'000;  // a wall clock in ms (the widest would overflow retention by age)
    h.apply(message);
    return h;
}

}  // namespace starbus::test
