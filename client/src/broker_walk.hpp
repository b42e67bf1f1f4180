// File: broker_walk.hpp
// Which broker a client tries next, and how long it waits first (the "walk"
// of the Lazy Pirate client over the cluster, nats.c-style reconnect):
//   - in rank order, wrapping around, starting with the primary;
//   - straight to a broker that another one names as the server (a hint),
//     unless that broker was silent earlier in this pass (a stale hint);
//   - after a full pass with nobody serving, a jittered pause that grows from
//     about 20 ms to about 200 ms, so that many clients do not hammer a
//     cluster in step while it elects a server;
//   - a short jittered pause before retrying a request a broker asked to
//     retry later (handover in progress).
// Pure: no sockets, no clock. A building block of starbus::client, public so
// that it can be tested on its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace starbus::client_detail {

// The growing, jittered pause between full passes over the cluster.
class backoff {
  public:
    struct settings {
        std::chrono::milliseconds first{20};  // base pause after the first full pass
        std::chrono::milliseconds max{200};   // the base doubles up to this
        // The pause is base * [1 - jitter, 1 + jitter), clamped to 1 ms .. max * (1 + jitter).
        double jitter = 0.5;
        std::chrono::milliseconds retry_min{10};  // retry_later pause: uniform in [retry_min, retry_max]
        std::chrono::milliseconds retry_max{40};
    };

    explicit backoff(std::uint64_t seed);
    backoff(std::uint64_t seed, settings s);

    // The pause to take now; the next one will have a larger base (up to max).
    [[nodiscard]] std::chrono::milliseconds next();
    // Somebody served: the next pause starts small again.
    void reset();
    // A short jittered pause before retrying after retry_later. Does not grow.
    [[nodiscard]] std::chrono::milliseconds retry_later();

    [[nodiscard]] std::chrono::milliseconds base() const { return _base; }
    [[nodiscard]] const settings& config() const { return _settings; }

  private:
    settings _settings;
    std::chrono::milliseconds _base;
    std::mt19937_64 _rng;
};

// The order in which brokers are tried.
class broker_walk {
  public:
    // Where to go next, and how long to pause before connecting (0: at once).
    struct step {
        std::size_t broker = 0;  // index into cluster_config::brokers (= rank)
        std::chrono::milliseconds pause{0};
    };

    // Starts at the primary (index 0), which counts as the first try of the pass.
    broker_walk(std::size_t broker_count, std::uint64_t seed, backoff::settings s = {});

    [[nodiscard]] std::size_t current() const { return _current; }
    [[nodiscard]] std::size_t broker_count() const { return _count; }
    // Brokers tried since the last one that served (or since the last pause).
    [[nodiscard]] std::size_t tried_in_pass() const { return _tried; }

    // The current broker is silent, or does not serve and names nobody: try
    // the next one in rank order (wrapping), pausing first after a full pass.
    [[nodiscard]] step advance();
    // The current broker names `broker` as the server: go there (pausing
    // first after a full pass). A hint naming the current broker itself, a
    // broker that was silent earlier in this pass, or an index out of range,
    // is treated like advance().
    [[nodiscard]] step redirect(std::size_t broker);
    // The current broker did not answer in time: hints naming it are stale
    // until the next pass (call before advance()).
    void mark_silent();
    [[nodiscard]] bool silent_in_pass(std::size_t broker) const;
    // The current broker serves: a later failure starts a fresh pass, and the
    // pause starts small again.
    void serving();
    // Pause before retrying a request the current broker asked to retry later.
    [[nodiscard]] std::chrono::milliseconds retry_later_pause() { return _backoff.retry_later(); }

  private:
    step go(std::size_t broker);

    std::size_t _count;
    std::size_t _current = 0;
    std::size_t _tried = 1;
    std::vector<bool> _silent;  // brokers silent in this pass
    backoff _backoff;
};

}  // namespace starbus::client_detail
