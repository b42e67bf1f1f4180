// File: zap_handler.hpp
// The broker's ZAP handler (RFC 27): libzmq asks it, over an inproc REP
// socket in the broker's context, whether each CURVE handshake on a bound
// port may complete. It runs in the reactor, so the verdict reads the access
// list the requests are judged by, with no lock and no thread. Without it
// libzmq would accept every CURVE client key (encryption without
// authentication).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "access_control.hpp"

namespace starbus {

class zap_handler {
  public:
    // Binds the ZAP endpoint of `ctx` (one handler per context).
    explicit zap_handler(zmq::context_t& ctx);

    [[nodiscard]] zmq::socket_t& socket() { return _socket; }

    // Answers every waiting ZAP request with `judge(domain, z85 public key)`. An accepted connection's
    // User-Id is its public key (Z85). Refusals are logged, at most a few lines per second.
    using judge_fn = std::function<handshake_verdict(std::string_view domain, std::string_view public_key)>;
    void drain(const judge_fn& judge, std::chrono::steady_clock::time_point now);

    [[nodiscard]] std::uint64_t refused() const { return _refused; }

  private:
    void answer(const std::string& request_id, bool ok, const std::string& status_text, const std::string& user_id);

    zmq::socket_t _socket;
    std::uint64_t _refused = 0;
    std::chrono::steady_clock::time_point _log_window{};
    int _logged_in_window = 0;
};

}  // namespace starbus
