// File: bus_service.hpp
// The serving side of the bus (docs/protocol.md "The bus") and of the publish
// port: answers BUS-FETCH from the committed bus log (or holds it until a
// message is committed), forwards best-effort messages when there is no bus
// log, and fans committed changes out on the publish port — bus messages to
// raw subscribers, state changes to mirroring clients — only when somebody
// subscribed to them. Owns the parked fetches and what the publish port's
// subscriptions are.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker_sink.hpp"
#include "local_replica.hpp"
#include "peer_view.hpp"

#include <starbus/wire/codec.hpp>

namespace starbus {

class bus_service {
  public:
    bus_service(const local_replica& replica, broker_sink& out);

    // A subscription message of the publish port (XPUB: byte 1 subscribe, 0 unsubscribe, then the prefix).
    void on_subscription(std::string_view frame);
    // BUS-FETCH on a serving broker with a bus log: answered now, or held until a message is committed or
    // its wait ends. `commit_seq`: the commit point.
    void on_fetch(const std::string& identity, const bus_fetch_request& r, std::uint64_t commit_seq,
                  steady_time now);
    // Without a bus log: the message goes to the publish port's subscribers at once (best effort).
    void forward(std::string_view topic, std::string_view payload);
    // Changes that just became committed (seq order), up to `commit_seq`: to mirrors and raw subscribers, and
    // the parked fetches they concern are answered.
    void on_committed(std::vector<change> committed, std::uint64_t commit_seq, steady_time now);
    // Answers the parked fetches whose wait ended (all of them when `all`).
    void wake(std::uint64_t commit_seq, steady_time now, bool all);
    // Every parked fetch is answered NOT_SERVING (this broker stops serving).
    void release();

    // The batch answering `r` from the committed bus log (pointing into it: valid until the state next
    // changes); nothing when it would be empty.
    [[nodiscard]] std::optional<bus_batch_view> answer(const bus_fetch_request& r, std::uint64_t commit_seq,
                                                       bool even_empty) const;
    [[nodiscard]] bool has_parked() const { return !_parked.empty(); }
    [[nodiscard]] std::size_t parked() const { return _parked.size(); }
    // Somebody mirrors the state ("K" or everything subscribed).
    [[nodiscard]] bool mirrored() const { return !_state_subscriptions.empty(); }

  private:
    // A bus fetch waiting for a message (a long poll).
    struct parked_fetch {
        std::string identity;
        bus_fetch_request request;
        steady_time until{};
    };
    void publish_messages(const std::vector<const change*>& messages);

    const local_replica& _replica;
    broker_sink& _out;
    std::deque<parked_fetch> _parked;            // oldest first; at most max_parked_fetches
    std::set<std::string> _state_subscriptions;  // subscribed prefixes that match "K" ("" or "K")
    std::size_t _bus_subscriptions = 0;          // raw subscriptions to "B" prefixes on the publish socket
    std::string _topic_frame;                    // forward()'s, reused
};

}  // namespace starbus
