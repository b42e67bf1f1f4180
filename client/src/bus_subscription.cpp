// File: bus_subscription.cpp
// The client's bus position, fetch and repeat filter (bus_subscription.hpp).
#include "bus_subscription.hpp"

namespace starbus::client_detail {

bus_subscription::bus_subscription(std::size_t remembered) : _remembered(std::max<std::size_t>(1, remembered)) {}

void bus_subscription::add(const std::string& prefix, const subscribe_options& start) {
    if (_prefixes.empty() && !_placed) {
        _start = start.start;
        _cursor = start.from;
    }
    _prefixes.insert(prefix);
}

void bus_subscription::remove(const std::string& prefix) { _prefixes.erase(prefix); }

std::optional<bus_fetch_request> bus_subscription::next_fetch(std::uint64_t request_id, std::uint64_t client_id,
                                                              std::uint32_t wait_ms, std::uint32_t max_messages) {
    if (_prefixes.empty() || _in_flight != 0) return std::nullopt;
    bus_fetch_request r;
    r.request_id = request_id;
    r.client_id = client_id;
    r.after_epoch = _cursor.epoch;
    r.after_seq = _cursor.seq;
    r.prefixes.assign(_prefixes.begin(), _prefixes.end());
    // "" subscribes to everything: the server matches an empty list the same way.
    if (_prefixes.count("")) r.prefixes.clear();
    r.max_messages = max_messages;
    r.wait_ms = wait_ms;
    r.start = _placed ? bus_start::after : _start;
    _in_flight = request_id;
    return r;
}

std::optional<bus_subscription::delivery> bus_subscription::on_batch(const bus_batch& b) {
    if (_in_flight == 0 || b.request_id != _in_flight) return std::nullopt;
    _in_flight = 0;
    delivery d;
    if (b.gap_through > 0) d.gap = bus_gap{b.gap_from, b.gap_through};
    for (const auto& c : b.messages) {
        if (c.client_id != 0) {
            const id key{c.client_id, c.request_id};
            if (!_seen.insert(key).second) continue;  // delivered before (a replayed history, a resent batch)
            _seen_order.push_back(key);
            if (_seen_order.size() > _remembered) {
                _seen.erase(_seen_order.front());
                _seen_order.pop_front();
            }
        }
        d.messages.push_back(bus_message{c.key, c.value, c.pos(), c.client_id, c.request_id, c.time_ms});
    }
    _cursor = position{b.next_epoch, b.next_seq};
    _placed = true;
    return d;
}

}  // namespace starbus::client_detail
