// File: zap_handler.cpp
// A ZAP request is seven frames or more: version "1.0", request id, domain,
// address, routing id, mechanism, then the mechanism's credentials (CURVE:
// one frame, the client's 32-byte public key). The reply is six frames:
// version, request id, status code ("200" or "400"), status text, user id,
// metadata.
#include "zap_handler.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include <starbus/security/curve_sockets.hpp>

namespace starbus {
namespace {

constexpr int zap_requests_per_drain = 256;
constexpr int refusal_log_lines_per_second = 10;

}  // namespace

zap_handler::zap_handler(zmq::context_t& ctx) : _socket(ctx, zmq::socket_type::rep) {
    _socket.set(zmq::sockopt::linger, 0);
    _socket.bind(zap_endpoint);
}

void zap_handler::answer(const std::string& request_id, bool ok, const std::string& status_text,
                         const std::string& user_id) {
    const std::string frames[] = {"1.0", request_id, ok ? "200" : "400", status_text, user_id, ""};
    for (std::size_t i = 0; i < std::size(frames); ++i)
        (void)_socket.send(zmq::buffer(frames[i]),
                           i + 1 < std::size(frames) ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

void zap_handler::drain(const judge_fn& judge, std::chrono::steady_clock::time_point now) {
    for (int n = 0; n < zap_requests_per_drain; ++n) {
        std::vector<zmq::message_t> frames;
        zmq::message_t frame;
        if (!_socket.recv(frame, zmq::recv_flags::dontwait)) return;
        frames.push_back(std::move(frame));
        while (frames.back().more()) {
            zmq::message_t next;
            if (!_socket.recv(next, zmq::recv_flags::dontwait)) break;
            frames.push_back(std::move(next));
        }
        // libzmq writes these requests itself: anything else is a bug, refused rather than trusted.
        const std::string request_id = frames.size() > 1 ? frames[1].to_string() : std::string{};
        bool ok = false;
        std::string why = "malformed ZAP request";
        std::string user_id;
        if (frames.size() >= 7 && frames[0].to_string_view() == "1.0") {
            const std::string_view domain = frames[2].to_string_view();
            const std::string_view mechanism = frames[5].to_string_view();
            if (mechanism != "CURVE" || frames[6].size() != 32) {
                why = "mechanism " + std::string(mechanism) + " is not accepted: CURVE only";
            } else {
                char z85[41] = {};
                zmq_z85_encode(z85, static_cast<const std::uint8_t*>(frames[6].data()), 32);
                const handshake_verdict v = judge(domain, z85);
                ok = v.accepted;
                why = v.status_text;
                if (ok) user_id = z85;
                else why += " (from " + frames[3].to_string() + ")";
            }
        }
        answer(request_id, ok, ok ? "OK" : why, user_id);
        if (ok) continue;
        ++_refused;
        if (now - _log_window > std::chrono::seconds(1)) {
            _log_window = now;
            _logged_in_window = 0;
        }
        if (++_logged_in_window <= refusal_log_lines_per_second)
            spdlog::warn("security: refused a CURVE handshake: {} [{} refused so far]", why, _refused);
    }
}

}  // namespace starbus
