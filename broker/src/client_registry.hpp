// File: client_registry.hpp
// The clients this broker heard lately (STATUS reports how many), by client
// id. Bounded: a flood of new ids (a reconnect storm, or a misbehaving peer)
// cannot grow it without limit, because the silent ones are forgotten
// whenever the table doubles (amortised O(1) per request).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <unordered_map>

namespace starbus {

class client_registry {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    // `horizon`: how long a client counts after it was last heard.
    explicit client_registry(std::chrono::milliseconds horizon) : _horizon(horizon) {}

    void heard(std::uint64_t client_id, time_point now) {
        if (client_id == 0) return;  // tools that do not say who they are
        _last_heard[client_id] = now;
        if (_last_heard.size() >= _prune_at) {
            static_cast<void>(count(now));
            _prune_at = std::max<std::size_t>(1024, 2 * _last_heard.size());
        }
    }

    // Clients heard within the horizon (and forgets the others).
    [[nodiscard]] std::size_t count(time_point now) {
        std::erase_if(_last_heard, [&](const auto& kv) { return now - kv.second > _horizon; });
        return _last_heard.size();
    }

    [[nodiscard]] std::size_t held() const { return _last_heard.size(); }

  private:
    std::chrono::milliseconds _horizon;
    std::unordered_map<std::uint64_t, time_point> _last_heard;
    std::size_t _prune_at = 1024;
};

}  // namespace starbus
