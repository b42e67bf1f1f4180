// File: change_batches.cpp
#include "change_batches.hpp"

#include <algorithm>

namespace starbus {

std::size_t send_snapshot(const local_replica& replica, std::uint64_t commit_seq, broker_sink& out,
                          const std::string& identity, std::uint64_t request_id, position from,
                          const std::vector<epoch_span>* epochs) {
    const position at = replica.last();
    // A delta when the asker's position is in our recent history; else everything.
    if (from.seq > 0) {
        if (auto delta = replica.history().after(from)) {
            const std::size_t count = delta->size();
            for_each_chunk(std::move(*delta), chunk_bytes, [&](std::vector<change> piece) {
                // The asker matches these to its request: pipelined or abandoned SNAPSHOTs cannot mix.
                out.reply(identity, change_batch{std::move(piece), commit_seq, request_id});
            });
            out.reply(identity,
                      snapshot_end{.request_id = request_id, .epoch = at.epoch, .seq = at.seq, .is_delta = true});
            return count;
        }
    }
    // Keys, then files; the bus log only for a replica (a client's mirror does not keep bus messages).
    const kv_state& state = replica.state();
    std::vector<change> entries = state.snapshot_entries(epochs != nullptr);
    const std::size_t count = entries.size();
    for_each_chunk(std::move(entries), chunk_bytes, [&](std::vector<change> piece) {
        out.reply(identity, snapshot_part{request_id, std::move(piece)});
    });
    snapshot_end end{.request_id = request_id, .epoch = at.epoch, .seq = at.seq, .requests = state.requests()};
    end.bus_dropped_through = state.bus_dropped_through();
    end.epochs = state.epochs();
    if (epochs) {
        // Where the replica's history parts from ours: what it holds beyond is its own, to be replayed.
        if (auto fork = state.fork_with(*epochs)) {
            end.fork_known = true;
            end.fork_seq = std::min(*fork, from.seq);
        }
    }
    out.reply(identity, end);
    return count;
}

}  // namespace starbus
