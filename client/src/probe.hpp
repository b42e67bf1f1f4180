// File: probe.hpp
// Operator exchanges with named brokers, outside the client's session: the
// status of every broker at once, one broker's copy of the state, and
// force. Each uses its own short-lived DEALER(s), closed with linger 0, and
// retries against the same broker (Lazy Pirate with a list of one) when it
// stays silent, until the deadline. A building block of starbus::client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include <zmq.hpp>

#include <starbus/client/client_types.hpp>
#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

namespace starbus::client_detail {

// Hands out request ids (the client's increasing counter).
using id_source = std::function<std::uint64_t()>;

// How the probes reach brokers: the context, and the client's CURVE key (empty: plaintext).
struct probe_link {
    zmq::context_t& context;
    const curve_key_pair& key;
};

// Asks every broker for its status in parallel and waits until all answered
// or `deadline`. Rows in rank order; a broker that did not answer has
// reachable == false and role "down" (and key_refused when it refused the
// client's CURVE key). fetch_snapshot and force_broker end with status
// not_authorised when the broker refuses the key.
[[nodiscard]] std::vector<broker_status> probe_status(const probe_link& link, const cluster_config& cluster,
                                                      const id_source& next_id,
                                                      std::chrono::steady_clock::time_point deadline);

// Fetches broker `b`'s whole state with snapshot_request{from 0}: a full
// snapshot or a delta from the start, either way every entry. With
// `require_serving`, a broker that does not serve refuses (status refused,
// `server` naming who serves if it knows). `silence`: how long the broker may
// stay silent; then, with `retry_when_silent`, the request is sent again on a
// new socket, else the fetch ends as unreachable (the caller looks elsewhere).
[[nodiscard]] dump_result fetch_snapshot(const probe_link& link, const broker_info& b, bool require_serving,
                                         const id_source& next_id, std::chrono::steady_clock::time_point deadline,
                                         std::chrono::milliseconds silence, bool retry_when_silent);

// Sends force_request to broker `b`: ok when it serves (now or already),
// refused (with the broker's reason) when it will not, unreachable when it
// does not answer before the deadline.
[[nodiscard]] result force_broker(const probe_link& link, const broker_info& b, const id_source& next_id,
                                  std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds silence);

}  // namespace starbus::client_detail
