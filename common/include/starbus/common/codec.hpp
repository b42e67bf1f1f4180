// File: codec.hpp
// The envelope every starbus message travels in: one MessagePack array
// ["SB", version, command code, body], where body is the command struct as an
// array (messages.hpp). Decoding never throws and never asserts: anything that
// is not a well-formed message of a known command comes back as an error
// saying what was wrong, for the caller to answer and log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include <starbus/common/messages.hpp>

namespace starbus {

inline constexpr std::string_view protocol_signature = "SB";
inline constexpr std::uint8_t protocol_version = 1;

// Prefixes of the frames on a broker's publish endpoint (the first frame), so
// that SUB sockets filter by prefix: bus messages are "B" + topic, replicated
// state changes are exactly "K".
inline constexpr std::string_view bus_prefix = "B";
inline constexpr std::string_view state_prefix = "K";

[[nodiscard]] std::string encode(const message& m);
[[nodiscard]] zmq::message_t encode_frame(const message& m);

// Result of decoding one frame: either a message or a reason.
struct decode_result {
    std::optional<message> value;
    error_code error = error_code::bad_request;  // meaningful only when !value
    std::string reason;                           // for the log and the error reply
    std::uint64_t request_id = 0;                 // best effort, to address an error reply

    [[nodiscard]] bool ok() const { return value.has_value(); }
};

[[nodiscard]] decode_result decode(const void* data, std::size_t size);
[[nodiscard]] inline decode_result decode(const zmq::message_t& frame) {
    return decode(frame.data(), frame.size());
}

// Checks that come after a structurally valid decode: field limits and enum
// ranges. Returns an empty string when valid, else what is wrong.
[[nodiscard]] std::string validate(const message& m);

}  // namespace starbus
