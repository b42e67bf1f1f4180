// File: codec.cpp
// Envelope encoding and defensive decoding of every command (codec.hpp).
#include <starbus/wire/codec.hpp>
#include <starbus/wire/access_entry.hpp>

#include <array>
#include <functional>

#include <starbus/wire/file_entry.hpp>
#include <starbus/wire/file_path.hpp>

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

using verdict = field_verdict;

verdict ok() { return {}; }
verdict bad(std::string why) { return {error_code::bad_request, std::move(why)}; }

verdict check_size(std::string_view what, std::size_t size, std::size_t limit) {
    if (size <= limit) return {};
    return {error_code::too_large,
            std::string(what) + " is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(limit)};
}

bool valid_state(broker_state s) { return static_cast<int>(s) < broker_state_count; }
bool valid_class(change_class c) { return c == change_class::operational || c == change_class::config; }
bool valid_op(change_op o) { return static_cast<int>(o) <= static_cast<int>(change_op::publish); }

verdict check_state(broker_state s) {
    return valid_state(s) ? ok() : bad("unknown broker state " + std::to_string(static_cast<int>(s)));
}

// A remote path on the wire must already be canonical: the sender normalises, so a broker never has to
// guess which of two spellings was meant.
verdict check_path(std::string_view path) {
    if (path.size() > file_limits::max_path_bytes) return check_size("path", path.size(), file_limits::max_path_bytes);
    std::string why;
    auto canonical = normalise_remote_path(path, &why);
    if (!canonical) return bad("remote path \"" + std::string(path) + "\" refused: " + why);
    if (*canonical != path)
        return bad("remote path \"" + std::string(path) + "\" is not canonical (send \"" + *canonical + "\")");
    return {};
}

verdict check_hash(std::string_view hash) {
    return is_lower_hex(hash, content_hash_hex_chars) ? ok() : bad("hash is not 64 lowercase hex digits (SHA-256)");
}

verdict check_xxh(std::string_view xxh) {
    return is_lower_hex(xxh, xxh128_hex_chars) ? ok() : bad("xxh is not 32 lowercase hex digits (XXH3-128)");
}

verdict check_publish(std::string_view topic, std::string_view payload) {
    if (topic.empty()) return bad("topic is empty");
    if (auto v = check_size("topic", topic.size(), limits::max_topic_bytes); !v.ok()) return v;
    return check_size("payload", payload.size(), limits::max_payload_bytes);
}

// A -MANY command's names, for its refusals.
struct many_names {
    std::string_view command, one, field;  // "PUBLISH-MANY", "publish", "publishes"
};
constexpr many_names publish_many_names{"PUBLISH-MANY", "publish", "publishes"};
constexpr many_names set_many_names{"SET-MANY", "SET", "sets"};

// The rules of a -MANY frame as a whole: 1..max_requests_per_many requests, headed by the first's request_id.
verdict check_many(const many_names& n, std::size_t count, std::uint64_t request_id, std::uint64_t first_id) {
    if (count == 0) return bad(std::string(n.command) + " carries no " + std::string(n.one));
    if (auto v = check_size(n.field, count, limits::max_requests_per_many); !v.ok()) return v;
    if (first_id != request_id)
        return bad("request_id " + std::to_string(request_id) + " is not the first " + std::string(n.one) + "'s (" +
                   std::to_string(first_id) + ")");
    return {};
}

verdict check_entry(const file_entry& e) {
    if (auto w = check_path(e.path); !w.ok()) return w;
    if (auto w = check_hash(e.hash); !w.ok()) return w;
    return check_xxh(e.xxh);
}

template <typename Range, typename Check>
verdict each(const Range& items, Check&& check) {
    for (const auto& item : items)
        if (auto v = check(item); !v.ok()) return v;
    return {};
}

struct validator {
    verdict operator()(const set_request& m) const {
        // SET changes keys only: files have FILE-PUT / FILE-RM (with their content and path rules) and the bus
        // has PUBLISH. Any other op would reach the log without the checks of its own command.
        if (m.op != change_op::put && m.op != change_op::erase)
            return bad("unknown op " + std::to_string(static_cast<int>(m.op)) + " for SET (0 put, 1 erase)");
        if (!valid_class(m.cls)) return bad("unknown change class " + std::to_string(static_cast<int>(m.cls)));
        if (m.key.empty()) return bad("key is empty");
        if (auto v = check_size("key", m.key.size(), limits::max_key_bytes); !v.ok()) return v;
        if (auto v = check_size("value", m.value.size(), limits::max_value_bytes); !v.ok()) return v;
        // The rule every replica applies to the change (check_change), so that a SET the decoder accepts
        // always makes a valid change.
        if (auto why = reserved_key_error(m.key, m.op == change_op::put, m.value, m.cls == change_class::config);
            !why.empty())
            return bad(why);
        return ok();
    }
    verdict operator()(const get_request& m) const { return check_size("key", m.key.size(), limits::max_key_bytes); }
    verdict operator()(const publish_request& m) const { return check_publish(m.topic, m.payload); }
    verdict operator()(const publish_many_request& m) const {
        if (auto v = check_many(publish_many_names, m.publishes.size(), m.request_id,
                                m.publishes.empty() ? 0 : m.publishes.front().request_id);
            !v.ok())
            return v;
        return each(m.publishes, *this);
    }
    verdict operator()(const set_many_request& m) const {
        if (auto v = check_many(set_many_names, m.sets.size(), m.request_id,
                                m.sets.empty() ? 0 : m.sets.front().request_id);
            !v.ok())
            return v;
        return each(m.sets, *this);
    }
    verdict operator()(const snapshot_part& m) const { return each(m.entries, check_change); }
    verdict operator()(const snapshot_end& m) const {
        if (auto v = check_size("requests", m.requests.size(), limits::remembered_requests); !v.ok()) return v;
        return check_size("epochs", m.epochs.size(), limits::max_epoch_spans);
    }
    verdict operator()(const change_batch& m) const { return each(m.changes, check_change); }
    verdict operator()(const error_reply& m) const {
        auto c = static_cast<int>(m.code_value);
        return (c >= 1 && c <= error_code_max) ? ok() : bad("unknown error code " + std::to_string(c));
    }
    verdict operator()(const status_reply& m) const {
        if (auto v = check_size("name", m.name.size(), limits::max_name_bytes); !v.ok()) return v;
        if (auto v = check_size("release", m.release.size(), limits::max_name_bytes); !v.ok()) return v;
        if (auto v = check_size("libzmq", m.libzmq.size(), limits::max_name_bytes); !v.ok()) return v;
        return check_state(m.state);
    }
    verdict operator()(const pong& m) const { return check_state(m.state); }
    verdict operator()(const repl_hello& m) const {
        if (auto v = check_size("epochs", m.epochs.size(), limits::max_epoch_spans); !v.ok()) return v;
        return check_size("name", m.name.size(), limits::max_name_bytes);
    }
    verdict operator()(const handover_request& m) const {
        return check_size("name", m.name.size(), limits::max_name_bytes);
    }
    verdict operator()(const heartbeat& m) const {
        if (auto v = check_size("name", m.name.size(), limits::max_name_bytes); !v.ok()) return v;
        if (auto v = check_size("following", m.following.size(), limits::max_name_bytes); !v.ok()) return v;
        return check_state(m.state);
    }
    verdict operator()(const file_list_request& m) const {
        if (m.limit == 0) return bad("limit is 0 (ask for 1 to " + std::to_string(limits::max_list_entries) + " entries)");
        return check_size("from", m.from.size(), file_limits::max_path_bytes);
    }
    verdict operator()(const file_list_reply& m) const {
        if (auto v = check_size("entries", m.entries.size(), limits::max_list_entries); !v.ok()) return v;
        return each(m.entries, check_entry);
    }
    verdict operator()(const fetch_request& m) const {
        if (auto w = check_path(m.path); !w.ok()) return w;
        if (auto w = check_hash(m.hash); !w.ok()) return w;
        if (m.length == 0) return bad("length is 0");
        if (m.length > limits::max_chunk_bytes)
            return {error_code::too_large, "length " + std::to_string(m.length) + " is over the limit of " +
                                               std::to_string(limits::max_chunk_bytes) + " bytes per chunk"};
        if (m.offset > ~std::uint64_t{0} - m.length) return bad("offset + length overflows");
        return {};
    }
    verdict operator()(const file_chunk& m) const {
        if (auto w = check_path(m.path); !w.ok()) return w;
        if (auto w = check_hash(m.hash); !w.ok()) return w;
        return check_size("chunk", m.data.size(), limits::max_chunk_bytes);
    }
    verdict operator()(const file_put_request& m) const {
        if (auto w = check_path(m.path); !w.ok()) return w;
        if (auto w = check_hash(m.hash); !w.ok()) return w;
        return check_xxh(m.xxh);
    }
    verdict operator()(const file_remove_request& m) const { return check_path(m.path); }
    verdict operator()(const bus_fetch_request& m) const {
        if (auto v = check_size("prefixes", m.prefixes.size(), limits::max_bus_prefixes); !v.ok()) return v;
        for (const auto& p : m.prefixes)
            if (auto v = check_size("prefix", p.size(), limits::max_topic_bytes); !v.ok()) return v;
        if (static_cast<int>(m.start) > static_cast<int>(bus_start::oldest))
            return bad("unknown start " + std::to_string(static_cast<int>(m.start)) + " (0 after, 1 latest, 2 oldest)");
        return {};
    }
    verdict operator()(const bus_batch& m) const {
        for (const auto& c : m.messages) {
            if (c.op != change_op::publish) return bad("a BUS-BATCH carries bus messages (op publish) only");
            if (auto v = check_change(c); !v.ok()) return v;
        }
        return {};
    }
    // STATUS, FORCE, PING, VALUE, ACK, SNAPSHOT, REPL-ACK, HANDOVER-GO: integers and booleans only, every value
    // of which is valid (their meaning is checked where they are used).
    template <typename T>
    verdict operator()(const T&) const {
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
// Strings and bins may be as long as a frame: the validators then answer a field over its own limit with
// TOO_LARGE and say which field (docs/protocol.md "Limits"), rather than the parser's "str size overflow".
constexpr std::uint32_t max_bytes = static_cast<std::uint32_t>(limits::max_frame_bytes);
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

field_verdict check_message(const message& m) { return std::visit(validator{}, m); }

std::string validate(const message& m) { return check_message(m).why; }

field_verdict check_change(const change& c) {
    if (!valid_op(c.op)) return bad("unknown change op " + std::to_string(static_cast<int>(c.op)));
    if (!valid_class(c.cls)) return bad("unknown change class " + std::to_string(static_cast<int>(c.cls)));
    if (auto v = check_size("key", c.key.size(), limits::max_key_bytes); !v.ok()) return v;
    if (auto v = check_size("value", c.value.size(), limits::max_value_bytes); !v.ok()) return v;
    if (c.op == change_op::put || c.op == change_op::erase)
        if (auto why = reserved_key_error(c.key, c.op == change_op::put, c.value, c.cls == change_class::config);
            !why.empty())
            return bad(why);
    switch (c.op) {
        case change_op::put:
            return c.key.empty() ? bad("a key change needs a key") : ok();
        case change_op::erase:
            if (c.key.empty()) return bad("a key change needs a key");
            return c.value.empty() ? ok() : bad("an erase carries no value");
        case change_op::publish:
            if (c.key.empty()) return bad("a bus message needs a topic");
            return c.cls == change_class::operational ? ok() : bad("a bus message must be of class operational");
        case change_op::file_put:
        case change_op::file_erase:
            if (c.cls != change_class::config) return bad("a file change must be of class config");
            if (auto v = check_path(c.key); !v.ok()) return v;
            if (c.op == change_op::file_erase)
                return c.value.empty() ? ok() : bad("a file removal carries no value");
            return decode_file_meta(c.value) ? ok() : bad("malformed file metadata (expected [size, sha256, xxh3-128])");
    }
    return bad("unknown change op");
}

namespace {

bool reference_frame(msgpack::type::object_type, std::size_t, void*) { return true; }

}  // namespace

decode_result decode(const void* data, std::size_t size) {
    if (size == 0) return fail(error_code::bad_request, "empty frame");
    if (static_cast<std::int64_t>(size) > limits::max_frame_bytes)
        return fail(error_code::too_large, "frame of " + std::to_string(size) + " bytes is over the limit");
    msgpack::object_handle handle;
    try {
        // Bound what a hostile frame can make the parser allocate (bin: a CHUNK's data).
        announced_elements budget(size);
        if (!msgpack::parse(static_cast<const char*>(data), size, budget) && budget.over())
            return fail(error_code::bad_request,
                        "not MessagePack: announces more elements than the frame holds, or nests too deep");
        msgpack::unpack_limit lim(max_elements, max_map_pairs, max_bytes, max_bytes, max_bytes,
                                  max_depth);
        // Strings and bins point into the frame rather than being copied into the handle's zone: the decoded
        // message copies what it keeps before this function returns, while the frame still lives.
        handle = msgpack::unpack(static_cast<const char*>(data), size, reference_frame, nullptr, lim);
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
    if (auto v = check_message(*r.value); !v.ok()) return fail(v.code, v.why, request_id);
    r.request_id = request_id;
    return r;
}

std::optional<command> peek_command(const void* data, std::size_t size) {
    // fixarray(4), fixstr(2) "SB", positive fixint version, then the code as a fixint or uint8.
    const auto* p = static_cast<const unsigned char*>(data);
    if (size < 6 || p[0] != 0x94 || p[1] != 0xa2 || p[2] != 'S' || p[3] != 'B' || p[4] != protocol_version)
        return std::nullopt;
    if (p[5] < 0x80) return static_cast<command>(p[5]);
    if (p[5] == 0xcc && size >= 7) return static_cast<command>(p[6]);
    return std::nullopt;
}

namespace {

// Strings and bins of a CHUNK view the frame instead of being copied.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) { return true; }

std::string_view view_of(const msgpack::object& o) {
    if (o.type == msgpack::type::STR) return {o.via.str.ptr, o.via.str.size};
    if (o.type == msgpack::type::BIN) return {o.via.bin.ptr, o.via.bin.size};
    throw std::runtime_error("expected a string or bin");
}

std::uint64_t uint_of(const msgpack::object& o) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) throw std::runtime_error("expected an unsigned integer");
    return o.via.u64;
}

}  // namespace

std::optional<file_chunk_view> decode_chunk_view(const zmq::message_t& frame, std::string* why) {
    const auto fail = [&](std::string reason) -> std::optional<file_chunk_view> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    if (static_cast<std::int64_t>(frame.size()) > limits::max_frame_bytes) return fail("frame over the limit");
    if (peek_command(frame.data(), frame.size()) != command::file_chunk) return fail("not a CHUNK envelope");
    try {
        msgpack::unpack_limit lim(16, 0, file_limits::max_path_bytes, limits::max_chunk_bytes, 0, 3);
        msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(frame.data()), frame.size(),
                                                   reference_everything, nullptr, lim);
        const msgpack::object& root = h.get();
        const msgpack::object& body = root.via.array.ptr[3];
        if (body.type != msgpack::type::ARRAY || body.via.array.size < 6) return fail("malformed CHUNK: too few fields");
        const msgpack::object* f = body.via.array.ptr;
        file_chunk_view v{uint_of(f[0]), view_of(f[1]), view_of(f[2]), uint_of(f[3]), uint_of(f[4]), view_of(f[5])};
        if (auto w = check_path(v.path); !w.ok()) return fail(w.why);
        if (auto w = check_hash(v.hash); !w.ok()) return fail(w.why);
        if (v.data.size() > limits::max_chunk_bytes) return fail("chunk over the limit");
        return v;  // the views point into `frame`, not into the handle's zone
    } catch (const std::exception& e) {
        return fail(std::string("malformed CHUNK: ") + e.what());
    }
}

namespace {

// A msgpack stream that appends to a string sized beforehand.
struct string_stream {
    std::string& out;
    void write(const char* data, std::size_t size) { out.append(data, size); }
};

}  // namespace

std::string encode_publish(std::uint64_t request_id, std::uint64_t client_id, std::string_view topic,
                           std::string_view payload) {
    std::string out;
    out.reserve(32 + topic.size() + payload.size());  // envelope, two uints and two str headers: at most 31 bytes
    string_stream stream{out};
    msgpack::packer<string_stream> pk(stream);
    pk.pack_array(envelope_size);
    pk.pack(protocol_signature);
    pk.pack(protocol_version);
    pk.pack(static_cast<std::uint8_t>(command::publish_request));
    pk.pack_array(4);
    pk.pack(request_id);
    pk.pack(client_id);
    pk.pack_str(static_cast<std::uint32_t>(topic.size()));
    pk.pack_str_body(topic.data(), static_cast<std::uint32_t>(topic.size()));
    pk.pack_str(static_cast<std::uint32_t>(payload.size()));
    pk.pack_str_body(payload.data(), static_cast<std::uint32_t>(payload.size()));
    return out;
}

zmq::message_t encode_frame(const bus_batch_view& b) {
    std::size_t bytes = 64;
    for (const change* c : b.messages) bytes += c->key.size() + c->value.size() + 64;
    msgpack::sbuffer buffer(bytes);
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(envelope_size);
    pk.pack(protocol_signature);
    pk.pack(protocol_version);
    pk.pack(static_cast<std::uint8_t>(command::bus_batch));
    pk.pack_array(6);  // bus_batch's fields, in its order
    pk.pack(b.request_id);
    pk.pack_array(static_cast<std::uint32_t>(b.messages.size()));
    for (const change* c : b.messages) pk.pack(*c);
    pk.pack(b.next_epoch);
    pk.pack(b.next_seq);
    pk.pack(b.gap_from);
    pk.pack(b.gap_through);
    return zmq::message_t(buffer.data(), buffer.size());
}

std::optional<std::string> encode_many(command single, std::uint64_t first_request_id,
                                       const std::vector<std::string_view>& frames) {
    command many;
    if (single == command::publish_request) many = command::publish_many_request;
    else if (single == command::set_request) many = command::set_many_request;
    else return std::nullopt;
    // An envelope of these codes is fixarray(4), "SB", the version and the code, each one byte or fixstr (6
    // bytes in all, see peek_command), then the body: the bodies are what the -MANY command's array holds.
    constexpr std::size_t envelope_head = 6;
    std::size_t bytes = 0;
    for (const auto f : frames) {
        if (peek_command(f.data(), f.size()) != single || f.size() <= envelope_head) return std::nullopt;
        bytes += f.size() - envelope_head;
    }
    std::string out;
    out.reserve(32 + bytes);
    string_stream stream{out};
    msgpack::packer<string_stream> pk(stream);
    pk.pack_array(envelope_size);
    pk.pack(protocol_signature);
    pk.pack(protocol_version);
    pk.pack(static_cast<std::uint8_t>(many));
    pk.pack_array(2);
    pk.pack(first_request_id);
    pk.pack_array(static_cast<std::uint32_t>(frames.size()));
    for (const auto f : frames) out.append(f.data() + envelope_head, f.size() - envelope_head);
    return out;
}

std::optional<std::string> encode_publish_many(std::uint64_t first_request_id,
                                               const std::vector<std::string_view>& publish_frames) {
    return encode_many(command::publish_request, first_request_id, publish_frames);
}

field_verdict decode_publish_many_view(const zmq::message_t& frame, std::vector<publish_view>& out,
                                       std::uint64_t& request_id) {
    out.clear();
    request_id = 0;
    if (static_cast<std::int64_t>(frame.size()) > limits::max_frame_bytes)
        return {error_code::too_large, "frame of " + std::to_string(frame.size()) + " bytes is over the limit"};
    if (peek_command(frame.data(), frame.size()) != command::publish_many_request)
        return bad("not a PUBLISH-MANY envelope");
    try {
        // Arrays: the envelope (4), the body (2), the publishes (at most the limit + 1, so that one too many is
        // named as such below) and each publish (4); nesting 3 deep.
        msgpack::unpack_limit lim(static_cast<std::uint32_t>(limits::max_requests_per_many + 1), 0, max_bytes,
                                  max_bytes, 0, 4);
        msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(frame.data()), frame.size(),
                                                   reference_everything, nullptr, lim);
        const msgpack::object& root = h.get();
        if (root.type != msgpack::type::ARRAY || root.via.array.size != envelope_size)
            return bad("not a starbus envelope (expected a 4-element array)");
        const msgpack::object& body = root.via.array.ptr[3];
        if (body.type != msgpack::type::ARRAY || body.via.array.size < 2)
            return bad("malformed PUBLISH-MANY: too few fields");
        request_id = peek_request_id(body);
        const std::uint64_t first = uint_of(body.via.array.ptr[0]);
        const msgpack::object& list = body.via.array.ptr[1];
        if (list.type != msgpack::type::ARRAY) return bad("malformed PUBLISH-MANY: publishes is not an array");
        const std::uint64_t first_publish = list.via.array.size > 0 ? peek_request_id(list.via.array.ptr[0]) : 0;
        if (auto v = check_many(publish_many_names, list.via.array.size, first, first_publish); !v.ok()) return v;
        out.reserve(list.via.array.size);
        for (std::uint32_t i = 0; i < list.via.array.size; ++i) {
            const msgpack::object& p = list.via.array.ptr[i];
            if (p.type != msgpack::type::ARRAY || p.via.array.size < 4)
                return bad("malformed PUBLISH-MANY: publish " + std::to_string(i) + " has too few fields");
            const msgpack::object* f = p.via.array.ptr;
            publish_view v{uint_of(f[0]), uint_of(f[1]), view_of(f[2]), view_of(f[3])};
            if (auto w = check_publish(v.topic, v.payload); !w.ok()) return w;
            out.push_back(v);
        }
        return {};  // the views point into `frame`, not into the handle's zone
    } catch (const std::exception& e) {
        out.clear();
        return bad(std::string("malformed PUBLISH-MANY: ") + e.what());
    }
}

std::string encode_chunk_header(const file_chunk_view& header, std::uint64_t checksum, std::size_t length) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(envelope_size);
    pk.pack(protocol_signature);
    pk.pack(protocol_version);
    pk.pack(static_cast<std::uint8_t>(command::file_chunk));
    pk.pack_array(6);
    pk.pack(header.request_id);
    pk.pack(header.path);
    pk.pack(header.hash);
    pk.pack(header.offset);
    pk.pack_fix_uint64(checksum);  // fixed width: encode_chunk_frame patches it after reading the data
    // bin32 always, so that the data starts at a fixed distance after the checksum.
    const auto n = static_cast<std::uint32_t>(length);
    const char bin_header[5] = {static_cast<char>(0xc6), static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                static_cast<char>(n >> 8), static_cast<char>(n)};
    buffer.write(bin_header, sizeof bin_header);
    return std::string(buffer.data(), buffer.size());
}

}  // namespace starbus
