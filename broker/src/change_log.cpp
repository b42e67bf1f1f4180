// File: change_log.cpp
// The change log file: its format, appends, reading back and cutting a torn
// tail (change_log.hpp; format in durable_store.hpp).
#include "change_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <msgpack.hpp>

#include "store_codec.hpp"

namespace starbus {
namespace {

using namespace store_codec;
namespace fs = std::filesystem;

constexpr std::string_view log_magic = "SBLOG001";
constexpr std::size_t record_header_size = 8;


// Reads the log's records one by one through a bounded buffer.
class record_reader {
  public:
    record_reader(int fd, std::uint64_t start, const fs::path& path) : _fd(fd), _offset(start), _path(path) {}

    enum class status { record, end, torn, corrupt };

    // Reads the next record into `out`. `end`: the file ends cleanly here;
    // `torn`: it ends inside a record; `corrupt`: the bytes here are not a record.
    // Throws storage_error when the file cannot be read at all.
    status next(change& out, std::string& why) {
        if (!ensure(record_header_size)) {
            if (available() == 0) return status::end;
            why = "a record header cut short";
            return status::torn;
        }
        const char* h = _buffer.data() + _pos;
        const std::uint32_t len = get_u32(h);
        const std::uint32_t crc = get_u32(h + 4);
        if (len == 0 || len > max_record_bytes) {
            why = "impossible record length " + std::to_string(len);
            return status::corrupt;
        }
        if (!ensure(record_header_size + len)) {
            why = "a record of " + std::to_string(len) + " bytes cut short";
            return status::torn;
        }
        h = _buffer.data() + _pos;
        if (crc32c_update(crc32c(h, 4), h + record_header_size, len) != crc) {
            why = "record checksum mismatch";
            return status::corrupt;
        }
        auto c = decode_change(h + record_header_size, len);
        if (!c) {
            why = "a record that is not a change";
            return status::corrupt;
        }
        out = std::move(*c);
        _pos += record_header_size + len;
        return status::record;
    }

    // File offset of the next unread record.
    [[nodiscard]] std::uint64_t offset() const { return _offset + _pos; }

  private:
    [[nodiscard]] std::size_t available() const { return _buffer.size() - _pos; }

    // Makes `n` bytes available from _pos; false at end of file.
    bool ensure(std::size_t n) {
        if (available() >= n) return true;
        if (_eof) return false;
        // Drop what was consumed, then read whole chunks until n bytes are in.
        _buffer.erase(0, _pos);
        _offset += _pos;
        _pos = 0;
        while (_buffer.size() < n && !_eof) {
            const std::size_t have = _buffer.size();
            const std::size_t want = std::max(io_chunk, n - have);
            _buffer.resize(have + want);
            const ssize_t got = read_full_at(_fd, _buffer.data() + have, want, _offset + have);
            if (got < 0) throw_storage_error("cannot read the change log " + _path.string(), static_cast<int>(-got), io_advice);
            _buffer.resize(have + static_cast<std::size_t>(got));
            if (static_cast<std::size_t>(got) < want) _eof = true;
        }
        return _buffer.size() >= n;
    }

    int _fd;
    std::uint64_t _offset;  // file offset of _buffer[0]
    const fs::path& _path;  // for error messages
    std::string _buffer;
    std::size_t _pos = 0;
    bool _eof = false;
};

}  // namespace

std::string encode_log_header(position base) {
    std::string h(log_header_size, '\0');
    std::memcpy(h.data(), log_magic.data(), 8);
    put_u64(&h[8], base.epoch);
    put_u64(&h[16], base.seq);
    put_u32(&h[28], crc32c(h.data(), 28));
    return h;
}

void encode_record(std::string& out, const change& c) {
    const std::size_t start = out.size();
    out.append(record_header_size, '\0');
    string_sink sink{out};
    msgpack::packer<string_sink> pk(sink);
    pk.pack(c);
    const std::size_t len = out.size() - start - record_header_size;
    // An oversized change is refused by the codec long before it gets here.
    assert(len <= max_record_bytes);
    put_u32(&out[start], static_cast<std::uint32_t>(len));
    const std::uint32_t crc = crc32c_update(crc32c(&out[start], 4), &out[start + record_header_size], len);
    put_u32(&out[start + 4], crc);
}

change_log::change_log(fs::path path, unique_fd fd, position base, std::uint64_t size, std::size_t records)
    : _path(std::move(path)), _fd(std::move(fd)), _base(base), _size(size), _records(records) {}

change_log change_log::create(const fs::path& path, position base, const std::vector<change>& records) {
    std::string bytes = encode_log_header(base);
    for (const auto& c : records) encode_record(bytes, c);
    unique_fd fd = atomic_replace(path, bytes, io_advice);
    change_log log(path, std::move(fd), base, bytes.size(), records.size());
    log._writable = true;
    return log;
}

change_log change_log::rebase(position base, std::uint64_t offset, std::size_t records_before) const {
    assert(_buffer.empty() && offset >= log_header_size && offset <= _size && records_before <= _records);
    std::string bytes = encode_log_header(base);
    const std::size_t head = bytes.size();
    bytes.resize(head + (_size - offset));
    const ssize_t n = read_full_at(_fd.get(), bytes.data() + head, _size - offset, offset);
    if (n < 0) throw_storage_error("cannot read the change log " + _path.string(), static_cast<int>(-n), io_advice);
    if (static_cast<std::uint64_t>(n) != _size - offset)
        throw storage_error("the change log " + _path.string() + " is shorter than its records" +
                            std::string(corrupt_advice));
    unique_fd fd = atomic_replace(_path, bytes, io_advice);
    change_log log(_path, std::move(fd), base, bytes.size(), _records - records_before);
    log._writable = true;
    return log;
}

std::optional<change_log> change_log::open(const fs::path& path) {
    unique_fd fd = open_file(path, O_RDWR);
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_storage_error("cannot open the change log " + path.string(), errno, corrupt_advice);
    }
    std::array<char, log_header_size> h{};
    const ssize_t n = read_full_at(fd.get(), h.data(), h.size(), 0);
    if (n < 0) throw_storage_error("cannot read the change log " + path.string(), static_cast<int>(-n), io_advice);
    if (static_cast<std::size_t>(n) != h.size() || std::string_view(h.data(), 8) != log_magic ||
        get_u32(&h[28]) != crc32c(h.data(), 28))
        throw storage_error("the change log " + path.string() + " has a corrupt header" + std::string(corrupt_advice));
    const position base{get_u64(&h[8]), get_u64(&h[16])};
    // Its size is known once read_back() has found where the valid records end.
    return change_log(path, std::move(fd), base, log_header_size, 0);
}

change_log::scan change_log::read_back(const std::function<bool(change&&)>& take) {
    scan out;
    std::uint64_t prev = _base.seq;  // contiguity within the file itself
    record_reader reader(_fd.get(), log_header_size, _path);
    change c;
    while (true) {
        if (reader.next(c, out.why) != record_reader::status::record) break;
        if (c.seq != prev + 1) {
            out.why = "seq " + std::to_string(c.seq) + " does not follow " + std::to_string(prev);
            break;
        }
        prev = c.seq;
        if (!take(std::move(c))) {
            out.why.clear();  // the caller's decision, not damage
            break;
        }
        ++out.taken;
        out.valid_end = reader.offset();
    }
    struct stat st {};
    if (::fstat(_fd.get(), &st) != 0) throw_storage_error("cannot stat the change log " + _path.string(), errno, io_advice);
    out.file_size = static_cast<std::uint64_t>(st.st_size);
    return out;
}

void change_log::keep_valid(const scan& s) {
    if (s.valid_end < s.file_size) {
        if (::ftruncate(_fd.get(), static_cast<off_t>(s.valid_end)) != 0)
            throw_storage_error("cannot cut the torn tail of the change log " + _path.string(), errno, io_advice);
        if (int e = sync_data(_fd.get()); e != 0)
            throw_storage_error("cannot sync the change log " + _path.string(), e, io_advice);
    }
    _size = s.valid_end;
    _records = s.taken;
    _writable = true;
}

void change_log::append(const change& c) {
    assert(_writable);
    encode_record(_buffer, c);
    ++_buffer_records;
}

void change_log::flush(bool sync) {
    if (!_failure.empty()) throw storage_error(_failure);
    if (_buffer.empty()) return;
    assert(_writable);
    const int fd = _fd.get();
    const std::string name = _path.string();
    // An unlinked log would swallow every write and vanish at restart.
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_storage_error("cannot stat the change log " + name, errno, io_advice);
    if (st.st_nlink == 0)
        throw storage_error("the change log " + name +
                            " was deleted while the broker ran: restore the data directory and restart the broker");
    if (int e = write_all_at(fd, _buffer.data(), _buffer.size(), _size); e != 0) {
        // Leave no partial record behind, so that a retry appends cleanly.
        if (::ftruncate(fd, static_cast<off_t>(_size)) != 0) {
            _failure = "cannot write the change log " + name + ": " + errno_text(e) +
                       ", and cannot cut the partial write: restart the broker";
        }
        throw_storage_error("cannot write the change log " + name, e, io_advice);
    }
    _size += _buffer.size();
    _records += _buffer_records;
    _buffer.clear();
    _buffer_records = 0;
    if (!sync) return;
    if (int e = sync_data(fd); e != 0) {
        _failure = "cannot sync the change log " + name + ": " + errno_text(e) +
                   ": what it holds is uncertain: check the disk, then restart the broker";
        throw storage_error(_failure);
    }
}

}  // namespace starbus
