// File: store_codec.hpp
// What the files of a broker's data directory share (durable_store.hpp
// documents their formats): little-endian fixed-width fields, the limits the
// msgpack decoder applies to what it reads back, the check that a decoded
// change is one the store could have written, and the advice its errors end
// with. Private to the broker: the change log, the snapshot file and the
// durable store that composes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include <starbus/wire/types.hpp>

namespace starbus::store_codec {

// A record is one change, whose key and value are bounded (limits); anything
// longer than a whole frame is not a record we wrote: a corrupt length.
constexpr std::size_t max_record_bytes = static_cast<std::size_t>(limits::max_frame_bytes);

// Reads and snapshot writes go through buffers of this size.
constexpr std::size_t io_chunk = 1 << 20;

// What to tell the operator when a file is unusable.
constexpr std::string_view corrupt_advice =
    ": move the data directory aside and restart the broker to resync from the server (or restore a backup)";

// Advice for I/O failures while running: most are a full or failing disk.
constexpr std::string_view io_advice = ": check free space and the disk, then restart the broker";

// Little-endian fields, whatever the host.
inline void put_u32(char* out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u64(char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
[[nodiscard]] inline std::uint32_t get_u32(const char* in) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}
[[nodiscard]] inline std::uint64_t get_u64(const char* in) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}

// "(epoch, seq)", for messages.
[[nodiscard]] std::string pos_text(position p);

// Lets msgpack::packer append to a std::string.
struct string_sink {
    std::string& out;
    void write(const char* p, std::size_t n) { out.append(p, n); }
};

// The decoder's limits for everything the store reads back: they admit the
// largest object it writes (else a broker could not read its own files).
[[nodiscard]] msgpack::unpack_limit decode_limit();

// Whether `c` is a change the store could have written (a known class and op,
// file metadata that decodes, a publish only as operational).
[[nodiscard]] bool valid_change(const change& c);

// Decodes one change that fills exactly `size` bytes; nullopt when the bytes
// are not a well-formed, valid change.
[[nodiscard]] std::optional<change> decode_change(const char* data, std::size_t size);

}  // namespace starbus::store_codec
