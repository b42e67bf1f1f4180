// File: file_entry.cpp
#include <starbus/wire/file_entry.hpp>
#include <starbus/wire/types.hpp>  // the MessagePack adaptor of file_meta

#include <algorithm>

namespace starbus {

bool is_lower_hex(std::string_view s, std::size_t chars) {
    if (s.size() != chars) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string encode_file_meta(const file_meta& m) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, m);
    return std::string(buffer.data(), buffer.size());
}

namespace {

// The limits admit the largest file_meta a broker writes: [size, hash, xxh], whose longest string is the
// SHA-256 in hex (a longer one is refused below anyway); room for fields appended later.
constexpr std::size_t file_meta_max_fields = 8;
constexpr std::size_t file_meta_max_string = std::max(content_hash_hex_chars, xxh128_hex_chars);
constexpr std::size_t file_meta_max_nesting = 2;

}  // namespace

std::optional<file_meta> decode_file_meta(std::string_view value) {
    try {
        msgpack::unpack_limit lim(file_meta_max_fields, 0, file_meta_max_string, 0, 0, file_meta_max_nesting);
        msgpack::object_handle h = msgpack::unpack(value.data(), value.size(), nullptr, nullptr, lim);
        auto m = h.get().as<file_meta>();
        if (!is_lower_hex(m.hash, content_hash_hex_chars) || !is_lower_hex(m.xxh, xxh128_hex_chars))
            return std::nullopt;
        return m;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<file_entry> file_entry_of(const change& c) {
    if (c.op != change_op::file_put) return std::nullopt;
    auto m = decode_file_meta(c.value);
    if (!m) return std::nullopt;
    return file_entry{c.key, m->size, std::move(m->hash), c.epoch, c.seq, std::move(m->xxh)};
}

change file_put_change(const file_entry& e) {
    change c;
    c.epoch = e.epoch;
    c.seq = e.seq;
    c.op = change_op::file_put;
    c.cls = change_class::config;
    c.key = e.path;
    c.value = encode_file_meta({e.size, e.hash, e.xxh});
    return c;
}

}  // namespace starbus
