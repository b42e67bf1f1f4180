// File: bus_subscription.hpp
// A client's subscription to the lossless bus (docs/protocol.md "The bus"):
// the topic prefixes, the position reached in the cluster's log, and the one
// BUS-FETCH in flight. The session sends next_fetch() to the server and feeds
// the BUS-BATCH back; after a failover it abandons the fetch and asks the new
// server from the same position, so nothing still retained is missed.
// Messages are delivered in log order, each once: a message seen before (its
// publisher's client and request ids) is not delivered again, which covers a
// history replayed after a partition (reconciler). A gap the server reports
// becomes a bus_gap event. Pure: no sockets, no clock. A building block of
// starbus::client.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include <starbus/client/client_types.hpp>
#include <starbus/wire/messages.hpp>

namespace starbus::client_detail {

class bus_subscription {
  public:
    // `remembered`: how many delivered messages' ids are kept to drop a repeat.
    explicit bus_subscription(std::size_t remembered = 100000);

    // The first prefix also says where the subscription starts.
    void add(const std::string& prefix, const subscribe_options& start = {});
    void remove(const std::string& prefix);
    [[nodiscard]] bool active() const { return !_prefixes.empty(); }
    [[nodiscard]] const std::set<std::string>& prefixes() const { return _prefixes; }

    // The fetch to send now, if none is in flight. `wait_ms`: how long the server may hold it.
    [[nodiscard]] std::optional<bus_fetch_request> next_fetch(std::uint64_t request_id, std::uint64_t client_id,
                                                              std::uint32_t wait_ms, std::uint32_t max_messages);
    [[nodiscard]] bool in_flight() const { return _in_flight != 0; }
    [[nodiscard]] std::uint64_t in_flight_id() const { return _in_flight; }
    // The connection carrying the fetch is gone (or the server refused it).
    void abandon() { _in_flight = 0; }

    struct delivery {
        std::vector<bus_message> messages;  // new ones, in log order
        std::optional<bus_gap> gap;
    };
    // A BUS-BATCH: nothing when it does not answer the fetch in flight.
    [[nodiscard]] std::optional<delivery> on_batch(const bus_batch& b);

    // The position reached (the next fetch asks for what follows it).
    [[nodiscard]] position cursor() const { return _cursor; }
    // A server answered a fetch: the subscription has a position in the log,
    // so nothing published after it is missed (while retained).
    [[nodiscard]] bool placed() const { return _placed; }

  private:
    struct id {
        std::uint64_t client = 0, request = 0;
        bool operator==(const id&) const = default;
    };
    struct id_hash {
        std::size_t operator()(const id& i) const noexcept { return std::hash<std::uint64_t>{}(i.client * 31 ^ i.request); }
    };

    std::set<std::string> _prefixes;
    bus_start _start = bus_start::latest;
    bool _placed = false;          // the server gave us a position: later fetches ask after it
    position _cursor;
    std::uint64_t _in_flight = 0;  // request id of the fetch in flight, 0: none
    std::size_t _remembered;
    std::deque<id> _seen_order;
    std::unordered_set<id, id_hash> _seen;
};

}  // namespace starbus::client_detail
