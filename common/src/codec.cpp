// File: codec.cpp
// Envelope encoding and defensive decoding of every command (codec.hpp).
#include <starbus/common/codec.hpp>

#include <array>
#include <functional>

namespace starbus {
namespace {

// The envelope is a fixed 4-element array; anything else is not ours.
constexpr std::uint32_t envelope_size = 4;

template <typename T>
void pack_one(msgpack::packer<msgpack::sbuffer>& pk, const T& body) {
    pk.pack_array(envelope_size);
    pk.pack(protocol_signature);
    pk.pack(protocol_version);
    pk.pack(static_cast<std::uint8_t>(T::code));
    pk.pack(body);
}

// One decoder per command code, generated from the variant's alternatives.
using decoder_fn = message (*)(const msgpack::object&);

template <typename T>
message decode_as(const msgpack::object& o) {
    return message{o.as<T>()};
}

template <std::size_t... I>
constexpr auto make_decoders(std::index_sequence<I...>) {
    std::array<decoder_fn, 256> table{};
    ((table[static_cast<std::size_t>(std::variant_alternative_t<I, message>::code)] =
          &decode_as<std::variant_alternative_t<I, message>>),
     ...);
    return table;
}

constexpr auto decoders = make_decoders(std::make_index_sequence<std::variant_size_v<message>>{});

std::string check_size(std::string_view what, std::size_t size, std::size_t limit) {
    if (size <= limit) return {};
    return std::string(what) + " is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(limit);
}

bool valid_state(broker_state s) { return static_cast<int>(s) < broker_state_count; }
bool valid_class(change_class c) { return c == change_class::operational || c == change_class::config; }
bool valid_op(change_op o) { return o == change_op::put || o == change_op::erase; }

std::string validate_change(const change& c) {
    if (!valid_op(c.op)) return "unknown change op " + std::to_string(static_cast<int>(c.op));
    if (!valid_class(c.cls)) return "unknown change class " + std::to_string(static_cast<int>(c.cls));
    if (auto e = check_size("key", c.key.size(), limits::max_key_bytes); !e.empty()) return e;
    return check_size("value", c.value.size(), limits::max_value_bytes);
}

struct validator {
    std::string operator()(const set_request& m) const {
        if (m.key.empty()) return "key is empty";
        if (!valid_op(m.op)) return "unknown change op " + std::to_string(static_cast<int>(m.op));
        if (!valid_class(m.cls)) return "unknown change class " + std::to_string(static_cast<int>(m.cls));
        if (auto e = check_size("key", m.key.size(), limits::max_key_bytes); !e.empty()) return e;
        return check_size("value", m.value.size(), limits::max_value_bytes);
    }
    std::string operator()(const get_request& m) const {
        return check_size("key", m.key.size(), limits::max_key_bytes);
    }
    std::string operator()(const publish_request& m) const {
        if (m.topic.empty()) return "topic is empty";
        if (auto e = check_size("topic", m.topic.size(), limits::max_topic_bytes); !e.empty()) return e;
        return check_size("payload", m.payload.size(), limits::max_payload_bytes);
    }
    std::string operator()(const snapshot_part& m) const {
        for (const auto& c : m.entries)
            if (auto e = validate_change(c); !e.empty()) return e;
        return {};
    }
    std::string operator()(const change_batch& m) const {
        for (const auto& c : m.changes)
            if (auto e = validate_change(c); !e.empty()) return e;
        return {};
    }
    std::string operator()(const status_reply& m) const {
        return valid_state(m.state) ? std::string{} : "unknown broker state";
    }
    std::string operator()(const pong& m) const {
        return valid_state(m.state) ? std::string{} : "unknown broker state";
    }
    std::string operator()(const heartbeat& m) const {
        if (!valid_state(m.state)) return "unknown broker state";
        return check_size("name", m.name.size(), limits::max_name_bytes);
    }
    std::string operator()(const repl_hello& m) const {
        return check_size("name", m.name.size(), limits::max_name_bytes);
    }
    std::string operator()(const error_reply& m) const {
        auto c = static_cast<int>(m.code_value);
        return (c >= 1 && c <= 8) ? std::string{} : "unknown error code " + std::to_string(c);
    }
    template <typename T>
    std::string operator()(const T&) const {
        return {};
    }
};

// request_id is the first field of most requests: read it without trusting the rest.
std::uint64_t peek_request_id(const msgpack::object& body) {
    if (body.type != msgpack::type::ARRAY || body.via.array.size == 0) return 0;
    const auto& first = body.via.array.ptr[0];
    return first.type == msgpack::type::POSITIVE_INTEGER ? first.via.u64 : 0;
}

// Limits of the MessagePack parser (decode()): element counts, string sizes, nesting.
constexpr std::uint32_t max_elements = 1u << 20;
constexpr std::uint32_t max_map_pairs = 64;
constexpr std::uint32_t max_bytes = 1u << 20;
constexpr std::size_t max_depth = 32;

// A first pass over a frame that allocates nothing: msgpack's unpacker reserves
// room for all the elements an array or map header announces before reading
// them, so a frame of a few hundred bytes announcing a million elements at each
// of 32 levels would make it allocate about 800 MB. Every element takes at least
// one byte of the frame, so the announced counts may add up to the frame's size
// at most; with that, what the unpacker allocates stays proportional to the frame.
class announced_elements : public msgpack::null_visitor {
  public:
    explicit announced_elements(std::size_t frame_bytes) : _left(frame_bytes) {}

    bool start_array(std::uint32_t n) { return enter(n); }
    bool end_array() { return leave(); }
    bool start_map(std::uint32_t n) { return enter(2 * static_cast<std::uint64_t>(n)); }
    bool end_map() { return leave(); }
    // True when the frame announced more elements than it holds, or nested too deep.
    [[nodiscard]] bool over() const { return _over; }

  private:
    bool enter(std::uint64_t elements) {
        if (elements > _left || ++_depth > max_depth) {
            _over = true;
            return false;
        }
        _left -= elements;
        return true;
    }
    bool leave() {
        --_depth;
        return true;
    }

    std::uint64_t _left;
    std::size_t _depth = 0;
    bool _over = false;
};

decode_result fail(error_code code, std::string reason, std::uint64_t request_id = 0) {
    decode_result r;
    r.error = code;
    r.reason = std::move(reason);
    r.request_id = request_id;
    return r;
}

}  // namespace

std::string encode(const message& m) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    std::visit([&](const auto& body) { pack_one(pk, body); }, m);
    return std::string(buffer.data(), buffer.size());
}

zmq::message_t encode_frame(const message& m) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    std::visit([&](const auto& body) { pack_one(pk, body); }, m);
    return zmq::message_t(buffer.data(), buffer.size());
}

std::string validate(const message& m) { return std::visit(validator{}, m); }

decode_result decode(const void* data, std::size_t size) {
    if (size == 0) return fail(error_code::bad_request, "empty frame");
    if (static_cast<std::int64_t>(size) > limits::max_frame_bytes)
        return fail(error_code::too_large, "frame of " + std::to_string(size) + " bytes is over the limit");
    msgpack::object_handle handle;
    try {
        // Bound what a hostile frame can make the parser allocate.
        announced_elements budget(size);
        if (!msgpack::parse(static_cast<const char*>(data), size, budget) && budget.over())
            return fail(error_code::bad_request,
                        "not MessagePack: announces more elements than the frame holds, or nests too deep");
        msgpack::unpack_limit lim(max_elements, max_map_pairs, max_bytes, max_bytes, max_bytes, max_depth);
        handle = msgpack::unpack(static_cast<const char*>(data), size, nullptr, nullptr, lim);
    } catch (const std::exception& e) {
        return fail(error_code::bad_request, std::string("not MessagePack: ") + e.what());
    }
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::ARRAY || root.via.array.size != envelope_size)
        return fail(error_code::bad_request, "not a starbus envelope (expected a 4-element array)");
    const msgpack::object* items = root.via.array.ptr;
    if (items[0].type != msgpack::type::STR ||
        std::string_view(items[0].via.str.ptr, items[0].via.str.size) != protocol_signature)
        return fail(error_code::bad_version, "protocol signature is not \"SB\"");
    if (items[1].type != msgpack::type::POSITIVE_INTEGER || items[1].via.u64 != protocol_version)
        return fail(error_code::bad_version, "protocol version is not " + std::to_string(protocol_version));
    const std::uint64_t request_id = peek_request_id(items[3]);
    if (items[2].type != msgpack::type::POSITIVE_INTEGER || items[2].via.u64 > 255 ||
        decoders[items[2].via.u64] == nullptr)
        return fail(error_code::unknown_command, "unknown command code", request_id);
    decoder_fn fn = decoders[items[2].via.u64];
    decode_result r;
    try {
        r.value = fn(items[3]);
    } catch (const std::exception& e) {
        auto name = to_string(static_cast<command>(items[2].via.u64));
        return fail(error_code::bad_request, std::string("malformed ") + std::string(name) + ": " + e.what(),
                    request_id);
    }
    if (auto why = validate(*r.value); !why.empty()) {
        auto code = why.find("over the limit") != std::string::npos ? error_code::too_large : error_code::bad_request;
        return fail(code, why, request_id);
    }
    r.request_id = request_id;
    return r;
}

}  // namespace starbus
