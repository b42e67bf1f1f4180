// File: snapshot_file.cpp
// Writing and reading the snapshot file (snapshot_file.hpp; format in
// durable_store.hpp).
#include "snapshot_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include <starbus/files/posix_io.hpp>

#include "store_codec.hpp"

namespace starbus {
namespace {

using namespace store_codec;
namespace fs = std::filesystem;

constexpr std::string_view snapshot_magic = "SBSNAP01";


// Buffers writes to a file at increasing offsets, with a running CRC of
// everything written; msgpack::packer writes into it.
class file_writer {
  public:
    file_writer(int fd, std::uint64_t offset, std::string name) : _fd(fd), _offset(offset), _name(std::move(name)) {
        _buffer.reserve(io_chunk);
    }
    void write(const char* p, std::size_t n) {
        _buffer.append(p, n);
        if (_buffer.size() >= io_chunk) drain();
    }
    void drain() {
        _crc = crc32c_update(_crc, _buffer.data(), _buffer.size());
        if (int e = write_all_at(_fd, _buffer.data(), _buffer.size(), _offset); e != 0)
            throw_storage_error("cannot write " + _name, e, io_advice);
        _offset += _buffer.size();
        _written += _buffer.size();
        _buffer.clear();
    }
    [[nodiscard]] std::uint32_t crc() const { return _crc; }
    [[nodiscard]] std::uint64_t written() const { return _written; }

  private:
    int _fd;
    std::uint64_t _offset;  // file offset of _buffer[0]
    std::string _name;      // for error messages
    std::string _buffer;
    std::uint32_t _crc = 0;
    std::uint64_t _written = 0;
};

// Writes the body after the (still empty) header, then the header that
// describes it. Returns the file's bytes.
std::uint64_t write_snapshot_body(int fd, const kv_state& s, const std::string& name) {
    file_writer w(fd, snapshot_header_size, name);
    msgpack::packer<file_writer> pk(w);
    pk.pack(s.last());
    // Keys, then files as file_put changes, then the retained bus messages in log order
    // (kv_state::snapshot_entries): one list, so the format did not change. Without the bus messages a broker
    // restarted from its snapshot lost them without a gap to show for it (the retention bound still applies
    // when they are read back).
    pk.pack(static_cast<std::uint64_t>(s.entries().size() + s.files().size() + s.bus_log().size()));
    for (const auto& [key, c] : s.entries()) pk.pack(c);
    for (const auto& [path, f] : s.files()) pk.pack(file_put_change(f));
    for (const auto& c : s.bus_log()) pk.pack(c);
    const auto requests = s.requests();
    pk.pack(static_cast<std::uint64_t>(requests.size()));
    for (const auto& r : requests) pk.pack(r);
    // Optional at the end (older snapshots end before them): the newest bus message dropped for retention,
    // so that a subscriber behind it still gets its gap; and the epochs of the history, to check positions.
    pk.pack(s.bus_dropped_through());
    pk.pack(s.epochs());
    w.drain();

    std::array<char, snapshot_header_size> h{};
    std::memcpy(h.data(), snapshot_magic.data(), 8);
    put_u64(&h[8], w.written());
    put_u32(&h[16], w.crc());
    put_u32(&h[20], crc32c(h.data(), 20));
    if (int e = write_all_at(fd, h.data(), h.size(), 0); e != 0) throw_storage_error("cannot write " + name, e, io_advice);
    return snapshot_header_size + w.written();
}

// Takes the objects of a snapshot body one at a time, in their order:
// position, entry count, changes, request count, requests, then optionally
// the seq of the newest bus message dropped for retention and the epochs.
class body_parser {
  public:
    explicit body_parser(const std::string& name) : _name(name) {}

    [[nodiscard]] storage_error corrupt(const std::string& why) const {
        return storage_error("snapshot file " + _name + " is corrupt (" + why + ")" + std::string(corrupt_advice));
    }

    void take(const msgpack::object& o) {
        switch (_next) {
            case stage::at:
                _at = o.as<position>();
                _next = stage::entry_count;
                break;
            case stage::entry_count:
                _entry_count = o.as<std::uint64_t>();
                _next = _entry_count ? stage::entries : stage::request_count;
                break;
            case stage::entries:
                _entries.push_back(o.as<change>());
                if (!valid_change(_entries.back())) throw corrupt("an entry has an unknown op or class");
                if (_entries.size() == _entry_count) _next = stage::request_count;
                break;
            case stage::request_count:
                _request_count = o.as<std::uint64_t>();
                _next = _request_count ? stage::requests : stage::done;
                break;
            case stage::requests:
                _requests.push_back(o.as<request_record>());
                if (_requests.size() == _request_count) _next = stage::done;
                break;
            case stage::done:
                _bus_dropped_through = o.as<std::uint64_t>();
                _next = stage::epochs;
                break;
            case stage::epochs:
                _epochs = o.as<std::vector<epoch_span>>();
                _next = stage::end;
                break;
            case stage::end: throw corrupt("data after the last object of the body");
        }
    }

    // Whether every object a snapshot must hold was taken (the optional ones may be missing).
    [[nodiscard]] bool complete() const {
        return _next == stage::done || _next == stage::epochs || _next == stage::end;
    }

    [[nodiscard]] kv_state state(const bus_retention& retention) && {
        kv_state s;
        s.set_bus_retention(retention);
        s.install_snapshot(std::move(_entries), _at, std::move(_requests), _bus_dropped_through, _epochs);
        return s;
    }

  private:
    enum class stage { at, entry_count, entries, request_count, requests, done, epochs, end };

    const std::string& _name;
    stage _next = stage::at;
    position _at;
    std::uint64_t _entry_count = 0;
    std::uint64_t _request_count = 0;
    std::uint64_t _bus_dropped_through = 0;
    std::vector<epoch_span> _epochs;
    std::vector<change> _entries;
    std::vector<request_record> _requests;
};

// The body's size and checksum, from a header that was checked against the file.
struct snapshot_header {
    std::uint64_t body_size = 0;
    std::uint32_t body_crc = 0;
};

snapshot_header read_header(int fd, const body_parser& parser, const std::string& name) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_storage_error("cannot stat snapshot file " + name, errno, corrupt_advice);
    std::array<char, snapshot_header_size> h{};
    const ssize_t got = read_full_at(fd, h.data(), h.size(), 0);
    if (got < 0) throw_storage_error("cannot read snapshot file " + name, static_cast<int>(-got), corrupt_advice);
    if (static_cast<std::size_t>(got) < h.size()) throw parser.corrupt("shorter than its header");
    if (std::string_view(h.data(), 8) != snapshot_magic)
        throw parser.corrupt("not a starbus snapshot, or another version");
    if (get_u32(&h[20]) != crc32c(h.data(), 20)) throw parser.corrupt("header checksum mismatch");
    const snapshot_header header{get_u64(&h[8]), get_u32(&h[16])};
    if (static_cast<std::uint64_t>(st.st_size) != snapshot_header_size + header.body_size)
        throw parser.corrupt("its size is " + std::to_string(st.st_size) + " bytes, its header says " +
                             std::to_string(snapshot_header_size + header.body_size));
    return header;
}

}  // namespace

std::uint64_t write_snapshot_file(const fs::path& path, const kv_state& s) {
    const std::string tmp_name = temp_path_of(path).string();
    std::uint64_t bytes = 0;
    (void)atomic_replace(
        path, [&](int fd) { bytes = write_snapshot_body(fd, s, tmp_name); }, io_advice);
    return bytes;
}

kv_state read_snapshot_file(const fs::path& path, const bus_retention& retention) {
    const std::string name = path.string();
    const unique_fd fd = open_file(path, O_RDONLY);
    if (!fd) throw_storage_error("cannot open snapshot file " + name, errno, corrupt_advice);
    body_parser parser(name);
    const snapshot_header header = read_header(fd.get(), parser, name);

    // Streamed through a bounded buffer: a snapshot may be far larger than one read.
    msgpack::unpacker unpacker(nullptr, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE, decode_limit());
    std::uint32_t crc = 0;
    std::uint64_t offset = snapshot_header_size;
    std::uint64_t left = header.body_size;
    try {
        while (left > 0) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, io_chunk));
            unpacker.reserve_buffer(want);
            const ssize_t n = read_full_at(fd.get(), unpacker.buffer(), want, offset);
            if (n < 0) throw_storage_error("cannot read snapshot file " + name, static_cast<int>(-n), corrupt_advice);
            if (static_cast<std::size_t>(n) != want) throw parser.corrupt("shorter than its header says");
            crc = crc32c_update(crc, unpacker.buffer(), want);
            unpacker.buffer_consumed(want);
            offset += want;
            left -= want;
            msgpack::object_handle oh;
            while (unpacker.next(oh)) parser.take(oh.get());
        }
    } catch (const storage_error&) {
        throw;
    } catch (const std::exception& e) {
        // Checked first: a checksum mismatch explains a decoding failure.
        if (left == 0 && crc != header.body_crc) throw parser.corrupt("body checksum mismatch");
        throw parser.corrupt(std::string("undecodable body: ") + e.what());
    }
    if (crc != header.body_crc) throw parser.corrupt("body checksum mismatch");
    if (!parser.complete() || unpacker.nonparsed_size() != 0) throw parser.corrupt("body ends early");
    return std::move(parser).state(retention);
}

}  // namespace starbus
