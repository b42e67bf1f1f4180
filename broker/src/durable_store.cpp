// File: durable_store.cpp
// The data directory of a broker: lock, meta (epoch), snapshot and change log,
// their recovery after a crash, and their crash-safe replacement. The on-disk
// formats are documented in durable_store.hpp. POSIX calls only; the store owns
// its file descriptors and holds no global state.
#include <starbus/broker/durable_store.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>
#include <msgpack.hpp>

namespace starbus {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view meta_magic = "SBMETA01";
constexpr std::string_view snapshot_magic = "SBSNAP01";
constexpr std::string_view log_magic = "SBLOG001";
constexpr std::size_t meta_size = 24;
constexpr std::size_t snapshot_header_size = 24;
constexpr std::size_t log_header_size = 32;
constexpr std::size_t record_header_size = 8;
// A record is one change, whose key and value are bounded (limits); anything
// longer than a whole frame is not a record we wrote: a corrupt length.
constexpr std::size_t max_record_bytes = static_cast<std::size_t>(limits::max_frame_bytes);
// Reads and snapshot writes go through buffers of this size.
constexpr std::size_t io_chunk = 1 << 20;

// ---------------------------------------------------------------------------
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8: about
// 1-2 GB/s without special instructions, so the checksum costs little next to
// the write itself.

using crc_tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc_tables make_crc_tables() {
    crc_tables t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[0][i] = c;
    }
    for (std::size_t i = 0; i < 256; ++i)
        for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    return t;
}

constexpr crc_tables crc_table = make_crc_tables();

// Continues a CRC: start with crc32c_update(0, ...) and chain.
std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    while (size >= 8) {
        const std::uint32_t lo = crc ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                        std::uint32_t(p[3]) << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
        p += 8;
        size -= 8;
    }
    while (size--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

std::uint32_t crc32c(const void* data, std::size_t size) { return crc32c_update(0, data, size); }

// ---------------------------------------------------------------------------
// Little-endian fields, whatever the host.

void put_u32(char* out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* in) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}
std::uint64_t get_u64(const char* in) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}

// ---------------------------------------------------------------------------
// File descriptors and errors.

// Owns one file descriptor; move-only.
class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) : _fd(fd) {}
    unique_fd(unique_fd&& o) noexcept : _fd(std::exchange(o._fd, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            _fd = std::exchange(o._fd, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    [[nodiscard]] int get() const { return _fd; }
    [[nodiscard]] bool valid() const { return _fd >= 0; }
    void reset() {
        if (_fd >= 0) ::close(_fd);
        _fd = -1;
    }

  private:
    int _fd = -1;
};

std::string errno_text(int e) { return std::strerror(e); }

std::string pos_text(position p) { return "(" + std::to_string(p.epoch) + ", " + std::to_string(p.seq) + ")"; }

// What to tell the operator when a file is unusable.
constexpr std::string_view corrupt_advice =
    ": move the data directory aside and restart the broker to resync from the server (or restore a backup)";

[[noreturn]] void throw_io(const std::string& what, int e, std::string_view advice) {
    throw storage_error(what + ": " + errno_text(e) + std::string(advice));
}

// Advice for I/O failures while running: most are a full or failing disk.
constexpr std::string_view io_advice = ": check free space and the disk, then restart the broker";

unique_fd open_file(const fs::path& p, int flags, mode_t mode = 0644) {
    int fd;
    do fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return unique_fd(fd);
}

// Writes all of `data` at `offset`, retrying short writes; returns 0 or errno.
int pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
    while (size > 0) {
        const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        data += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return 0;
}

// Reads up to `size` bytes at `offset`; returns the count, or -errno.
ssize_t pread_some(int fd, char* data, std::size_t size, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

void fsync_dir(const fs::path& dir) {
    unique_fd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    if (!fd.valid()) throw_io("cannot open data directory " + dir.string() + " to sync it", errno, io_advice);
    if (::fsync(fd.get()) != 0) throw_io("cannot sync data directory " + dir.string(), errno, io_advice);
}

// Writes `dir/name` whole and atomically: `fill` writes dir/name.tmp, which is
// synced and renamed over the old file, then the directory is synced. Returns
// the descriptor (read-write) of the new file, for callers that keep using it.
unique_fd replace_file(const fs::path& dir, const std::string& name, const std::function<void(int)>& fill) {
    const fs::path tmp = dir / (name + ".tmp");
    const fs::path target = dir / name;
    unique_fd fd = open_file(tmp, O_RDWR | O_CREAT | O_TRUNC);
    if (!fd.valid()) throw_io("cannot create " + tmp.string(), errno, io_advice);
    try {
        fill(fd.get());
        if (::fsync(fd.get()) != 0) throw_io("cannot sync " + tmp.string(), errno, io_advice);
        if (::rename(tmp.c_str(), target.c_str()) != 0) throw_io("cannot rename " + tmp.string(), errno, io_advice);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    fsync_dir(dir);
    return fd;
}

// ---------------------------------------------------------------------------
// Encoding.

// Lets msgpack::packer append to a std::string.
struct string_sink {
    std::string& out;
    void write(const char* p, std::size_t n) { out.append(p, n); }
};

// Appends one framed record to `out`.
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

std::string encode_log_header(position base) {
    std::string h(log_header_size, '\0');
    std::memcpy(h.data(), log_magic.data(), 8);
    put_u64(&h[8], base.epoch);
    put_u64(&h[16], base.seq);
    put_u32(&h[28], crc32c(h.data(), 28));
    return h;
}

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

// Decodes one record payload; nullopt when it is not a well-formed change.
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
        if (int e = pwrite_all(_fd, _buffer.data(), _buffer.size(), _offset); e != 0)
            throw_io("cannot write " + _name, e, io_advice);
        _offset += _buffer.size();
        _written += _buffer.size();
        _buffer.clear();
    }
    [[nodiscard]] std::uint32_t crc() const { return _crc; }
    [[nodiscard]] std::uint64_t written() const { return _written; }

  private:
    int _fd;
    std::uint64_t _offset;
    std::string _name;
    std::string _buffer;
    std::uint32_t _crc = 0;
    std::uint64_t _written = 0;
};

void write_snapshot_body(int fd, const kv_state& s, const std::string& name) {
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
    if (int e = pwrite_all(fd, h.data(), h.size(), 0); e != 0) throw_io("cannot write " + name, e, io_advice);
}

// The snapshot file, loaded: the state it holds.
kv_state read_snapshot(const fs::path& path, const bus_retention& retention) {
    const std::string name = path.string();
    auto corrupt = [&](const std::string& why) {
        return storage_error("snapshot file " + name + " is corrupt (" + why + ")" + std::string(corrupt_advice));
    };
    unique_fd fd = open_file(path, O_RDONLY);
    if (!fd.valid()) throw_io("cannot open snapshot file " + name, errno, corrupt_advice);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_io("cannot stat snapshot file " + name, errno, corrupt_advice);

    std::array<char, snapshot_header_size> h{};
    const ssize_t got = pread_some(fd.get(), h.data(), h.size(), 0);
    if (got < 0) throw_io("cannot read snapshot file " + name, static_cast<int>(-got), corrupt_advice);
    if (static_cast<std::size_t>(got) < h.size()) throw corrupt("shorter than its header");
    if (std::string_view(h.data(), 8) != snapshot_magic) throw corrupt("not a starbus snapshot, or another version");
    if (get_u32(&h[20]) != crc32c(h.data(), 20)) throw corrupt("header checksum mismatch");
    const std::uint64_t body_size = get_u64(&h[8]);
    const std::uint32_t body_crc = get_u32(&h[16]);
    if (static_cast<std::uint64_t>(st.st_size) != snapshot_header_size + body_size)
        throw corrupt("its size is " + std::to_string(st.st_size) + " bytes, its header says " +
                      std::to_string(snapshot_header_size + body_size));

    // The body is a sequence of objects: position, count, changes, count, requests, and optionally the seq of
    // the newest bus message dropped for retention.
    enum class stage { at, entry_count, entries, request_count, requests, done, epochs, end } next = stage::at;
    position at;
    std::uint64_t entry_count = 0, request_count = 0, bus_dropped_through = 0;
    std::vector<epoch_span> epochs;
    std::vector<change> entries;
    std::vector<request_record> requests;
    auto take = [&](const msgpack::object& o) {
        switch (next) {
            case stage::at:
                at = o.as<position>();
                next = stage::entry_count;
                break;
            case stage::entry_count:
                entry_count = o.as<std::uint64_t>();
                next = entry_count ? stage::entries : stage::request_count;
                break;
            case stage::entries:
                entries.push_back(o.as<change>());
                if (!valid_change(entries.back())) throw corrupt("an entry has an unknown op or class");
                if (entries.size() == entry_count) next = stage::request_count;
                break;
            case stage::request_count:
                request_count = o.as<std::uint64_t>();
                next = request_count ? stage::requests : stage::done;
                break;
            case stage::requests:
                requests.push_back(o.as<request_record>());
                if (requests.size() == request_count) next = stage::done;
                break;
            case stage::done:
                bus_dropped_through = o.as<std::uint64_t>();
                next = stage::epochs;
                break;
            case stage::epochs:
                epochs = o.as<std::vector<epoch_span>>();
                next = stage::end;
                break;
            case stage::end: throw corrupt("data after the last object of the body");
        }
    };

    msgpack::unpacker unpacker(nullptr, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE, decode_limit());
    std::uint32_t crc = 0;
    std::uint64_t offset = snapshot_header_size;
    std::uint64_t left = body_size;
    try {
        while (left > 0) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, io_chunk));
            unpacker.reserve_buffer(want);
            const ssize_t n = pread_some(fd.get(), unpacker.buffer(), want, offset);
            if (n < 0) throw_io("cannot read snapshot file " + name, static_cast<int>(-n), corrupt_advice);
            if (static_cast<std::size_t>(n) != want) throw corrupt("shorter than its header says");
            crc = crc32c_update(crc, unpacker.buffer(), want);
            unpacker.buffer_consumed(want);
            offset += want;
            left -= want;
            msgpack::object_handle oh;
            while (unpacker.next(oh)) take(oh.get());
        }
    } catch (const storage_error&) {
        throw;
    } catch (const std::exception& e) {
        // Checked first: a checksum mismatch explains a decoding failure.
        if (left == 0 && crc != body_crc) throw corrupt("body checksum mismatch");
        throw corrupt(std::string("undecodable body: ") + e.what());
    }
    if (crc != body_crc) throw corrupt("body checksum mismatch");
    if ((next != stage::done && next != stage::epochs && next != stage::end) || unpacker.nonparsed_size() != 0)
        throw corrupt("body ends early");
    kv_state s;
    s.set_bus_retention(retention);
    s.install_snapshot(std::move(entries), at, std::move(requests), bus_dropped_through, epochs);
    return s;
}

// Reads the log's records one by one through a bounded buffer.
class log_reader {
  public:
    log_reader(int fd, std::uint64_t start) : _fd(fd), _offset(start) {}

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
            const ssize_t got = pread_some(_fd, _buffer.data() + have, want, _offset + have);
            if (got < 0) throw_io("cannot read the change log", static_cast<int>(-got), io_advice);
            _buffer.resize(have + static_cast<std::size_t>(got));
            if (static_cast<std::size_t>(got) < want) _eof = true;
        }
        return _buffer.size() >= n;
    }

    int _fd;
    std::uint64_t _offset;  // file offset of _buffer[0]
    std::string _buffer;
    std::size_t _pos = 0;
    bool _eof = false;
};

}  // namespace

// ---------------------------------------------------------------------------

struct durable_store::impl {
    fs::path dir;
    fsync_mode mode;
    unique_fd lock_fd;
    unique_fd log_fd;
    bool is_recovered = false;
    std::uint64_t meta_epoch = 0;  // as in the meta file
    position last;                 // last change appended (buffered or not) or recovered
    std::uint64_t log_size = 0;    // bytes of the log on disk, all of them valid
    std::size_t log_records = 0;   // records in the log on disk
    std::string buffer;            // encoded records not yet written
    std::size_t buffer_records = 0;
    std::string failure;  // once set (failed fdatasync or snapshot), every flush throws it

    [[nodiscard]] fs::path file(std::string_view name) const { return dir / name; }
    [[nodiscard]] std::string log_name() const { return file("log").string(); }

    void open_directory();
    void read_meta();
    recovered do_recover(const bus_retention& retention);
    void write_log(position base, const std::vector<change>& records);
    void write_snapshot_and_log(const kv_state& s);
    void flush();

    ~impl() {
        // A clean shutdown keeps what was appended; a failure here is no worse
        // than a crash, and a destructor must not throw.
        if (!is_recovered || !failure.empty()) return;
        try {
            flush();
        } catch (const storage_error& e) {
            spdlog::error("{}", e.what());
        }
    }
};

void durable_store::impl::open_directory() {
    const std::string name = dir.string();
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw storage_error("data directory " + name + " is not a directory: choose another --data-dir");
    fs::create_directories(dir, ec);
    if (ec)
        throw storage_error("cannot create data directory " + name + ": " + ec.message() +
                            ": check its permissions or choose another --data-dir");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw storage_error("data directory " + name + " is not writable (" + errno_text(errno) +
                            "): check its permissions or choose another --data-dir");

    lock_fd = open_file(file("LOCK"), O_RDWR | O_CREAT);
    if (!lock_fd.valid())
        throw storage_error("data directory " + name + " is not writable (cannot create its LOCK file: " +
                            errno_text(errno) + "): check its permissions or choose another --data-dir");
    int rc;
    do rc = ::flock(lock_fd.get(), LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        if (errno != EWOULDBLOCK) throw_io("cannot lock data directory " + name, errno, io_advice);
        std::array<char, 32> text{};
        const ssize_t n = pread_some(lock_fd.get(), text.data(), text.size() - 1, 0);
        std::string pid = n > 0 ? std::string(text.data(), static_cast<std::size_t>(n)) : std::string("unknown");
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        throw storage_error("data directory " + name + " is in use by another broker (pid " + pid +
                            "): stop it, or give this broker another --data-dir");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd.get(), 0) != 0 || pwrite_all(lock_fd.get(), pid.data(), pid.size(), 0) != 0)
        throw_io("cannot write the LOCK file of data directory " + name, errno, io_advice);

    // Left by a crash in the middle of a replacement: the real file is intact.
    for (const char* tmp : {"meta.tmp", "snapshot.tmp", "log.tmp"}) ::unlink(file(tmp).c_str());
}

void durable_store::impl::read_meta() {
    const fs::path path = file("meta");
    unique_fd fd = open_file(path, O_RDONLY);
    if (!fd.valid()) {
        if (errno == ENOENT) return;  // a fresh directory: no takeover ever happened here
        throw_io("cannot open meta file " + path.string(), errno, corrupt_advice);
    }
    std::array<char, meta_size + 1> m{};
    const ssize_t n = pread_some(fd.get(), m.data(), m.size(), 0);
    if (n < 0) throw_io("cannot read meta file " + path.string(), static_cast<int>(-n), corrupt_advice);
    if (static_cast<std::size_t>(n) != meta_size || std::string_view(m.data(), 8) != meta_magic ||
        get_u32(&m[16]) != crc32c(m.data(), 16))
        throw storage_error("meta file " + path.string() +
                            " is corrupt (it holds the highest epoch this broker knows)" + std::string(corrupt_advice));
    meta_epoch = get_u64(&m[8]);
}

void durable_store::impl::write_log(position base, const std::vector<change>& records) {
    std::string bytes = encode_log_header(base);
    for (const auto& c : records) encode_record(bytes, c);
    log_fd = replace_file(dir, "log", [&](int fd) {
        if (int e = pwrite_all(fd, bytes.data(), bytes.size(), 0); e != 0)
            throw_io("cannot write " + file("log.tmp").string(), e, io_advice);
    });
    log_size = bytes.size();
    log_records = records.size();
}

void durable_store::impl::write_snapshot_and_log(const kv_state& s) {
    const std::string tmp_name = file("snapshot.tmp").string();
    try {
        replace_file(dir, "snapshot", [&](int fd) { write_snapshot_body(fd, s, tmp_name); });
        // A crash here leaves the old log beside the new snapshot: recovery notices
        // (the log's base is not the snapshot's position) and finishes this step.
        write_log(s.last(), {});
    } catch (const storage_error& e) {
        // The files on disk are consistent (recovery sorts them out), but this
        // store's idea of them may not be: only a restart is safe.
        failure = std::string(e.what()) + " (the store stopped writing: restart the broker)";
        throw;
    }
    buffer.clear();
    buffer_records = 0;
    last = s.last();
}

durable_store::recovered durable_store::impl::do_recover(const bus_retention& retention) {
    recovered r;
    r.state.set_bus_retention(retention);
    const fs::path snapshot_path = file("snapshot");
    std::error_code ec;
    const bool have_snapshot = fs::exists(snapshot_path, ec);
    if (have_snapshot) r.state = read_snapshot(snapshot_path, retention);
    r.snapshot_position = r.state.last();

    const fs::path log_path = file("log");
    log_fd = open_file(log_path, O_RDWR);
    if (!log_fd.valid()) {
        if (errno != ENOENT) throw_io("cannot open the change log " + log_path.string(), errno, corrupt_advice);
        if (have_snapshot)
            throw storage_error("the change log " + log_path.string() + " is missing beside snapshot " +
                                snapshot_path.string() + std::string(corrupt_advice));
        write_log(r.snapshot_position, {});  // a fresh directory
    } else {
        std::array<char, log_header_size> h{};
        const ssize_t n = pread_some(log_fd.get(), h.data(), h.size(), 0);
        if (n < 0) throw_io("cannot read the change log " + log_path.string(), static_cast<int>(-n), io_advice);
        if (static_cast<std::size_t>(n) != h.size() || std::string_view(h.data(), 8) != log_magic ||
            get_u32(&h[28]) != crc32c(h.data(), 28))
            throw storage_error("the change log " + log_path.string() + " has a corrupt header" +
                                std::string(corrupt_advice));
        const position base{get_u64(&h[8]), get_u64(&h[16])};
        if (!have_snapshot && base != position{})
            throw storage_error("the change log " + log_path.string() + " follows a snapshot at " + pos_text(base) +
                                " but " + snapshot_path.string() + " is missing" + std::string(corrupt_advice));
        // A stale log predates the snapshot: its records up to the snapshot's
        // seq are skipped, and the rest belong to this history only when its
        // record at the snapshot's seq is the snapshot's position.
        const bool stale = base != r.snapshot_position;
        bool continues = !stale;
        std::uint64_t log_prev = base.seq;  // contiguity within the file itself
        std::size_t kept_bytes_end = log_header_size;
        log_reader reader(log_fd.get(), log_header_size);
        change c;
        std::string why;
        while (true) {
            const auto st = reader.next(c, why);
            if (st == log_reader::status::end) break;
            if (st != log_reader::status::record) break;
            if (c.seq != log_prev + 1) {
                why = "seq " + std::to_string(c.seq) + " does not follow " + std::to_string(log_prev);
                break;
            }
            log_prev = c.seq;
            if (stale && c.seq <= r.snapshot_position.seq) {
                if (c.seq == r.snapshot_position.seq) continues = c.pos() == r.snapshot_position;
                kept_bytes_end = reader.offset();
                continue;
            }
            if (!continues) {
                why.clear();  // the rest is another history, not damage
                break;
            }
            const bool applied = r.state.apply(c);
            assert(applied);  // contiguity was checked just above
            (void)applied;
            r.tail.push_back(std::move(c));
            kept_bytes_end = reader.offset();
        }
        struct stat st {};
        if (::fstat(log_fd.get(), &st) != 0)
            throw_io("cannot stat the change log " + log_path.string(), errno, io_advice);
        const auto file_size = static_cast<std::uint64_t>(st.st_size);
        if (stale) {
            spdlog::warn(
                "change log {} predates snapshot {} (a crash interrupted its replacement): "
                "kept {} of its records, finishing the replacement",
                log_path.string(), pos_text(r.snapshot_position), r.tail.size());
            if (!why.empty()) r.torn_bytes = file_size - kept_bytes_end;
            write_log(r.snapshot_position, r.tail);
        } else {
            if (kept_bytes_end < file_size) {
                r.torn_bytes = file_size - kept_bytes_end;
                spdlog::warn("change log {}: cut {} bytes at offset {} ({}); recovered up to {}", log_path.string(),
                             r.torn_bytes, kept_bytes_end, why.empty() ? "trailing bytes" : why,
                             pos_text(r.state.last()));
                if (::ftruncate(log_fd.get(), static_cast<off_t>(kept_bytes_end)) != 0)
                    throw_io("cannot cut the torn tail of the change log " + log_path.string(), errno, io_advice);
                if (::fdatasync(log_fd.get()) != 0)
                    throw_io("cannot sync the change log " + log_path.string(), errno, io_advice);
            }
            log_size = kept_bytes_end;
            log_records = r.tail.size();
        }
    }
    last = r.state.last();
    r.epoch = std::max(meta_epoch, r.state.last().epoch);
    is_recovered = true;
    return r;
}

// ---------------------------------------------------------------------------

durable_store::durable_store(const std::filesystem::path& dir, fsync_mode mode) : _impl(std::make_unique<impl>()) {
    _impl->dir = dir;
    _impl->mode = mode;
    _impl->open_directory();
    _impl->read_meta();
}

durable_store::durable_store(durable_store&&) noexcept = default;
durable_store& durable_store::operator=(durable_store&&) noexcept = default;

durable_store::~durable_store() = default;

durable_store::recovered durable_store::recover(const bus_retention& retention) {
    assert(_impl && !_impl->is_recovered);
    return _impl->do_recover(retention);
}

void durable_store::append(const change& c) {
    assert(_impl && _impl->is_recovered);
    assert(c.seq == _impl->last.seq + 1);
    encode_record(_impl->buffer, c);
    ++_impl->buffer_records;
    _impl->last = c.pos();
}

void durable_store::append(const std::vector<change>& batch) {
    for (const auto& c : batch) append(c);
}

void durable_store::flush() {
    assert(_impl && _impl->is_recovered);
    _impl->flush();
}

void durable_store::impl::flush() {
    impl& m = *this;
    if (!m.failure.empty()) throw storage_error(m.failure);
    if (m.buffer.empty()) return;
    const int fd = m.log_fd.get();
    // An unlinked log would swallow every write and vanish at restart.
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_io("cannot stat the change log " + m.log_name(), errno, io_advice);
    if (st.st_nlink == 0)
        throw storage_error("the change log " + m.log_name() +
                            " was deleted while the broker ran: restore the data directory and restart the broker");
    if (int e = pwrite_all(fd, m.buffer.data(), m.buffer.size(), m.log_size); e != 0) {
        // Leave no partial record behind, so that a retry appends cleanly.
        if (::ftruncate(fd, static_cast<off_t>(m.log_size)) != 0) {
            m.failure = "cannot write the change log " + m.log_name() + ": " + errno_text(e) +
                        ", and cannot cut the partial write: restart the broker";
        }
        throw_io("cannot write the change log " + m.log_name(), e, io_advice);
    }
    m.log_size += m.buffer.size();
    m.log_records += m.buffer_records;
    m.buffer.clear();
    m.buffer_records = 0;
    if (m.mode == fsync_mode::batch && ::fdatasync(fd) != 0) {
        m.failure = "cannot sync the change log " + m.log_name() + ": " + errno_text(errno) +
                    ": what it holds is uncertain: check the disk, then restart the broker";
        throw storage_error(m.failure);
    }
}

void durable_store::save_epoch(std::uint64_t epoch) {
    assert(_impl);
    impl& m = *_impl;
    if (epoch <= m.meta_epoch) return;  // the highest epoch known never goes down
    std::array<char, meta_size> bytes{};
    std::memcpy(bytes.data(), meta_magic.data(), 8);
    put_u64(&bytes[8], epoch);
    put_u32(&bytes[16], crc32c(bytes.data(), 16));
    replace_file(m.dir, "meta", [&](int fd) {
        if (int e = pwrite_all(fd, bytes.data(), bytes.size(), 0); e != 0)
            throw_io("cannot write " + m.file("meta.tmp").string(), e, io_advice);
    });
    m.meta_epoch = epoch;
}

void durable_store::install_snapshot(const kv_state& s) {
    assert(_impl && _impl->is_recovered);
    _impl->write_snapshot_and_log(s);
}

bool durable_store::maybe_compact(const kv_state& s, std::size_t max_log_records) {
    assert(_impl && _impl->is_recovered);
    if (log_records() <= max_log_records) return false;
    assert(s.last() == _impl->last);
    _impl->write_snapshot_and_log(s);
    return true;
}

std::size_t durable_store::log_records() const {
    assert(_impl);
    return _impl->log_records + _impl->buffer_records;
}

const std::filesystem::path& durable_store::directory() const {
    assert(_impl);
    return _impl->dir;
}

}  // namespace starbus
