// File: store_codec.cpp
// The decoding rules shared by the files of a data directory (store_codec.hpp).
#include "store_codec.hpp"

#include <algorithm>

#include <starbus/files/file_manifest.hpp>

namespace starbus::store_codec {
namespace {

// The decoder's limits must admit the largest object this store writes, or a broker cannot read back its own
// files: a limit of 16 elements per array once met a snapshot's list of epochs, which grows by one with every
// takeover, and two brokers of a long chaos run never started again.
// The most fields of a type the store writes (change: 9, request_record: 4, epoch_span: 3, position: 2), with
// room for fields appended later.
constexpr std::size_t max_record_fields = 16;
// The longest array: the snapshot's list of epoch spans (kv_state::epochs keeps at most max_epoch_spans).
constexpr std::size_t max_array_elements = std::max(max_record_fields, limits::max_epoch_spans);
// The deepest object is that list, an array of arrays (2 levels); room for fields appended later.
constexpr std::size_t max_nesting = 4;

}  // namespace

std::string pos_text(position p) {
    // Appended piece by piece: "(" + std::to_string(...) trips a false -Wrestrict of GCC 12.
    std::string out = "(";
    out += std::to_string(p.epoch);
    out += ", ";
    out += std::to_string(p.seq);
    out += ")";
    return out;
}

msgpack::unpack_limit decode_limit() {
    // No maps, no ext; a string (a key, a value) or bin is never longer than a record.
    return msgpack::unpack_limit(max_array_elements, 0, max_record_bytes, max_record_bytes, 0, max_nesting);
}

bool valid_change(const change& c) {
    if (c.cls != change_class::operational && c.cls != change_class::config) return false;
    switch (c.op) {
        case change_op::put:
        case change_op::erase: return true;
        case change_op::file_put: return decode_file_meta(c.value).has_value();
        case change_op::file_erase: return true;
        case change_op::publish: return c.cls == change_class::operational;
    }
    return false;
}

std::optional<change> decode_change(const char* data, std::size_t size) {
    try {
        std::size_t offset = 0;
        msgpack::object_handle oh = msgpack::unpack(data, size, offset, nullptr, nullptr, decode_limit());
        if (offset != size) return std::nullopt;
        change c = oh.get().as<change>();
        if (!valid_change(c)) return std::nullopt;
        return c;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace starbus::store_codec
