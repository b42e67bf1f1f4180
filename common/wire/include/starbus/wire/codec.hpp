// File: codec.hpp
// The envelope every starbus message travels in: one MessagePack array
// ["SB", version, command code, body], where body is the command struct as an
// array (messages.hpp). Decoding never throws and never asserts: anything that
// is not a well-formed message of a known command comes back as an error
// saying what was wrong, for the caller to answer and log.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include <starbus/wire/messages.hpp>

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

// What is wrong with a message or a change, and the error code that answers it:
// TOO_LARGE for a field over its size limit, BAD_REQUEST for anything else.
// An empty `why` means valid.
struct field_verdict {
    error_code code = error_code::bad_request;
    std::string why;

    [[nodiscard]] bool ok() const { return why.empty(); }
};

// Checks that come after a structurally valid decode, field by field against
// docs/protocol.md: sizes, enumeration values, path rules, digests. decode()
// applies them to every message it returns.
[[nodiscard]] field_verdict check_message(const message& m);
// The same, as text only ("" when valid).
[[nodiscard]] std::string validate(const message& m);

// The one definition of a valid change (docs/protocol.md "Changes"): what a
// server may log, and so what every replica and mirror accepts in CHANGES,
// SNAPSHOT-PART and BUS-BATCH. A server checks every change it builds with it
// before logging it, so that nothing it logs can be refused by a replica.
[[nodiscard]] field_verdict check_change(const change& c);

// The command code of an envelope, read without decoding its body; nothing
// when the frame is not a starbus/1 envelope.
[[nodiscard]] std::optional<command> peek_command(const void* data, std::size_t size);

// ---- the publisher's path (one call per bus message) ----

// The PUBLISH encode() makes of publish_request{request_id, client_id, topic,
// payload}, written straight from the views into one string of the right size.
[[nodiscard]] std::string encode_publish(std::uint64_t request_id, std::uint64_t client_id, std::string_view topic,
                                         std::string_view payload);

// ---- PUBLISH and PUBLISH-MANY read in place (the broker's bus path) ----

// Decodes and validates a PUBLISH-MANY frame into `out` (cleared first) as
// views into the frame, without copying a topic or a payload; decode() of the
// same frame would accept exactly the same ones. Returns the verdict: when it
// is not ok, `request_id` is what an ERROR should be addressed to.
[[nodiscard]] field_verdict decode_publish_many_view(const zmq::message_t& frame, std::vector<publish_view>& out,
                                                     std::uint64_t& request_id);

// ---- BUS-BATCH from the bus log ----

// A BUS-BATCH whose messages stay where they are (a broker's bus log):
// encoded as bus_batch is, without copying each message first. The pointers
// must stay valid until it is encoded.
struct bus_batch_view {
    std::uint64_t request_id = 0;
    std::vector<const change*> messages;
    std::uint64_t next_epoch = 0;
    std::uint64_t next_seq = 0;
    std::uint64_t gap_from = 0;
    std::uint64_t gap_through = 0;
};
[[nodiscard]] zmq::message_t encode_frame(const bus_batch_view& b);

// ---- PUBLISH-MANY from PUBLISH frames ----

// A PUBLISH-MANY carrying the given PUBLISH envelopes (each as encode() made
// it), in order, without decoding them: their bodies are copied as they are.
// A sender keeps each publish encoded for its retries anyway, so batching
// costs one copy. Every frame must be a PUBLISH envelope (else nothing); the
// first one's request_id heads the PUBLISH-MANY.
[[nodiscard]] std::optional<std::string> encode_publish_many(std::uint64_t first_request_id,
                                                             const std::vector<std::string_view>& publish_frames);
// The same for any command that has a -MANY form: `single` is PUBLISH or SET (anything else: nothing), and
// every frame must be of that command; the result is a PUBLISH-MANY or a SET-MANY.
[[nodiscard]] std::optional<std::string> encode_many(command single, std::uint64_t first_request_id,
                                                     const std::vector<std::string_view>& frames);

// ---- the CHUNK fast path (file transfers move gigabytes: no copy of the data) ----

// A decoded CHUNK whose strings and data view the frame it came from: valid
// only while that frame lives.
struct file_chunk_view {
    std::uint64_t request_id = 0;
    std::string_view path;
    std::string_view hash;
    std::uint64_t offset = 0;
    std::uint64_t checksum = 0;
    std::string_view data;
};

// Decodes and validates a CHUNK frame without copying its data; nothing, with
// the reason in `why`, when it is not a well-formed CHUNK.
[[nodiscard]] std::optional<file_chunk_view> decode_chunk_view(const zmq::message_t& frame, std::string* why = nullptr);

// Encodes a CHUNK carrying `length` bytes that `fill` writes in place (for
// example with pread straight into the frame); the header's `data` and
// `checksum` are ignored: `fill` returns the checksum of what it wrote, or
// nothing when it could not read the bytes (then no frame is made).
template <typename Fill>
[[nodiscard]] std::optional<zmq::message_t> encode_chunk_frame(const file_chunk_view& header, std::size_t length,
                                                               Fill&& fill);
// The CHUNK header up to the data, and the frame's data offset: the part of
// encode_chunk_frame that does not depend on the data.
[[nodiscard]] std::string encode_chunk_header(const file_chunk_view& header, std::uint64_t checksum,
                                              std::size_t length);

template <typename Fill>
std::optional<zmq::message_t> encode_chunk_frame(const file_chunk_view& header, std::size_t length, Fill&& fill) {
    // The checksum sits before the data in the encoding and is known only after the data is read: encode the
    // header with a fixed-width placeholder, read, then patch the checksum in.
    std::string head = encode_chunk_header(header, 0, length);
    zmq::message_t frame(head.size() + length);
    auto* dst = static_cast<char*>(frame.data());
    std::memcpy(dst, head.data(), head.size());
    std::optional<std::uint64_t> checksum = fill(dst + head.size());
    if (!checksum) return std::nullopt;
    // The checksum is packed as a uint64 (0xcf + 8 bytes big-endian) right before the bin header (5 bytes).
    char* at = dst + head.size() - 5 - 8;
    for (int i = 7; i >= 0; --i, *checksum >>= 8) at[i] = static_cast<char>(*checksum & 0xFF);
    return frame;
}

}  // namespace starbus
