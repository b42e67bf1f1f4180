// File: peer_view.hpp
// What this broker knows of every other broker: the last heartbeat each sent,
// when it arrived, and whether the connection it came on has been lost since
// (the kernel closes a dead process's TCP connections at once: evidence that
// arrives long before an expiry). The questions the FSM's sensors ask (who serves? may I
// take over? am I the cold-start choice?) are answered here, from this table
// alone, so that they can be tested without sockets.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <starbus/config/cluster_config.hpp>
#include <starbus/wire/messages.hpp>

namespace starbus {

using steady_time = std::chrono::steady_clock::time_point;

class peer_view {
  public:
    peer_view(const cluster_config& cluster, std::uint32_t my_rank);

    // Records a heartbeat; returns false (and records nothing) when it claims
    // to come from a broker that is not in the cluster file or from myself.
    bool record(const heartbeat& hb, steady_time now);

    // The connection to `rank`'s heartbeat port was lost (libzmq saw it closed): the peer counts as dead
    // until a heartbeat arrives on a new connection. Recorded only for a peer heard before.
    void connection_lost(std::uint32_t rank, steady_time now);
    // The connection was lost after the last heartbeat, and no heartbeat came since.
    [[nodiscard]] bool lost(std::uint32_t rank) const;

    // A peer is alive while its last heartbeat is younger than the expiry, and its connection was not lost
    // since.
    [[nodiscard]] bool alive(std::uint32_t rank, steady_time now) const;
    [[nodiscard]] bool alive(const std::string& name, steady_time now) const;
    [[nodiscard]] const heartbeat* last(std::uint32_t rank) const;  // nullptr: never heard
    [[nodiscard]] steady_time heard_at(std::uint32_t rank) const { return _peers.at(rank).heard_at; }
    // How many heartbeats were recorded from `rank` so far: the tick guard watches it move after a freeze.
    [[nodiscard]] std::uint64_t heard_count(std::uint32_t rank) const { return _peers.at(rank).heard_count; }

    // This broker did not run for `gap` (frozen, suspended, a pause far beyond its reactor's turns): every
    // last-heard time moves `gap` later. Silence this broker could not observe is no evidence against a
    // peer: a peer heard just before the gap stays alive for the rest of its expiry, in which its queued
    // or new heartbeats arrive (tick_guard.hpp).
    void shift_heard_times(steady_time::duration gap);

    // The live peer that serves (active or handing over) with the highest
    // (epoch, -rank), if any.
    [[nodiscard]] const heartbeat* best_server(steady_time now) const;

    // Highest epoch announced by any peer ever heard (alive or not).
    [[nodiscard]] std::uint64_t max_epoch() const;

    // Passive-broker takeover rule: no live peer serves, and every broker of
    // lower rank than mine is silent or not synchronised.
    [[nodiscard]] bool may_take_over(steady_time now) const;

    // Cold-start rule (nobody serves, everybody stalled or starting): every
    // broker is heard — or I and every heard broker are fresh (never held a
    // change) and every broker of lower rank than mine is heard — and my
    // position (last_epoch, seq) is the best, ties to the lowest rank.
    [[nodiscard]] bool cold_start_choice(position mine, steady_time now) const;

    // Names of peers not heard within the expiry, in rank order.
    [[nodiscard]] std::vector<std::string> silent_peers(steady_time now) const;

    [[nodiscard]] const broker_info& info(std::uint32_t rank) const { return _cluster.brokers[rank]; }
    [[nodiscard]] std::size_t size() const { return _cluster.brokers.size(); }

  private:
    struct peer {
        std::optional<heartbeat> last;
        steady_time heard_at{};
        std::uint64_t heard_count = 0;  // heartbeats recorded
        std::optional<steady_time> lost_at;  // when the connection was last seen lost
    };
    const cluster_config& _cluster;
    std::uint32_t _my_rank;
    std::vector<peer> _peers;  // indexed by rank; my own slot stays empty
};

}  // namespace starbus
