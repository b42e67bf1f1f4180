// File: make_seeds.cpp
// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/, committed):
// one directory per target, a few small inputs each that are meaningful to the
// code under test, so that fuzzing starts from real formats instead of from
// nothing. Frames come from encode() (a default-built one of every command in
// the message variant, so a new command gets a seed without a change here,
// plus filled-in ones and broken frames); data directories come from the real
// durable_store API. Deterministic: the same program writes the same bytes.
// Files it does not write are left alone.
// Usage: make_seeds OUT_DIR   (scripts/fuzz.sh runs it into build-fuzz/)
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>
#include <msgpack.hpp>

#include <starbus/broker/durable_store.hpp>
#include <starbus/wire/codec.hpp>
#include <starbus/files/file_manifest.hpp>

namespace {

namespace fs = std::filesystem;
using namespace starbus;

// Writes seeds into OUT_DIR/<target>/.
class seed_writer {
  public:
    explicit seed_writer(fs::path out) : _out(std::move(out)) {}

    void write(const std::string& target, const std::string& name, const std::string& bytes) {
        const fs::path dir = _out / target;
        fs::create_directories(dir);
        std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!f) throw std::runtime_error("cannot write " + (dir / name).string() + ": check the output directory");
        ++_count;
    }
    [[nodiscard]] int count() const { return _count; }

  private:
    fs::path _out;
    int _count = 0;
};

change make_change(std::uint64_t epoch, std::uint64_t seq, change_op op, std::string key, std::string value,
                   std::uint64_t client = 0) {
    change c;
    c.epoch = epoch;
    c.seq = seq;
    c.op = op;
    c.cls = seq % 3 == 0 ? change_class::config : change_class::operational;
    c.key = std::move(key);
    c.value = op == change_op::put ? std::move(value) : std::string();
    c.client_id = client;
    c.request_id = client ? seq * 10 : 0;
    return c;
}

std::string packed(const msgpack::sbuffer& b) { return {b.data(), b.size()}; }

// ---- fuzz_decode: frames ----

template <std::size_t... I>
void default_frames(seed_writer& out, std::index_sequence<I...>) {
    ((out.write("fuzz_decode", "default-" + std::string(to_string(std::variant_alternative_t<I, message>::code)),
                encode(message{std::variant_alternative_t<I, message>{}}))),
     ...);
}

// An envelope whose parts are chosen freely, for the broken frames.
std::string envelope(const std::string& sig, int version, int code, int body_items) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(4);
    pk.pack(sig);
    pk.pack(version);
    pk.pack(code);
    pk.pack_array(static_cast<std::uint32_t>(body_items));
    for (int i = 0; i < body_items; ++i) pk.pack(i + 1);
    return packed(b);
}

void decode_seeds(seed_writer& out) {
    default_frames(out, std::make_index_sequence<std::variant_size_v<message>>{});
    const std::vector<change> changes = {make_change(2, 41, change_op::put, "valve.1", "open", 77),
                                         make_change(2, 42, change_op::erase, "valve.2", "", 77),
                                         make_change(2, 43, change_op::put, "limit", std::string("\0\xff", 2))};
    const std::vector<std::pair<std::string, message>> filled = {
        {"set", set_request{42, 7, change_op::put, change_class::config, "limit.max", "12"}},
        {"set-erase", set_request{43, 7, change_op::erase, change_class::operational, "valve.1", ""}},
        {"set-access-grant", set_request{44, 7, change_op::put, change_class::config, "$starbus/access/ops",
                                         "admin rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"}},
        {"set-access-revoke", set_request{45, 7, change_op::put, change_class::config, "$starbus/access/ops", "revoked"}},
        {"get", get_request{44, "valve.1"}},
        {"value", value_reply{44, true, "open", change_class::operational, 2, 41}},
        {"snapshot", snapshot_request{45, 2, 40, true}},
        {"snapshot-part", snapshot_part{45, changes}},
        {"snapshot-end", snapshot_end{45, 2, 43, false, {{77, 410, 2, 41}, {77, 420, 2, 42}}}},
        {"publish", publish_request{46, 7, "alarms.boiler", "pressure high"}},
        {"ack", ack_reply{{42, 43, 46}, 2, 43}},
        {"error", error_reply{47, error_code::not_serving, "ask B", "B", "A"}},
        {"status-reply", status_reply{48, "B", 1, broker_state::active, 2, 43, 0, 3, "B", ""}},
        {"pong", pong{broker_state::passive, 2, 43, "A", 7}},
        {"repl-hello", repl_hello{"C", 2, 2, 40, 991}},
        {"changes", change_batch{changes, 42, 0}},
        {"repl-ack", repl_ack{43}},
        {"handover", handover_request{"A", 0, 43}},
        {"handover-go", handover_go{2, 43}},
        {"heartbeat", heartbeat{"A", 0, broker_state::active, 2, 43, 2, ""}},
    };
    for (const auto& [name, m] : filled) out.write("fuzz_decode", "filled-" + name, encode(m));

    out.write("fuzz_decode", "broken-signature", envelope("XX", 1, 2, 2));
    out.write("fuzz_decode", "broken-version", envelope("SB", 2, 2, 2));
    out.write("fuzz_decode", "broken-unknown-code", envelope("SB", 1, 99, 1));
    out.write("fuzz_decode", "broken-wrong-types", envelope("SB", 1, 1, 6));
    const std::string set = encode(set_request{42, 7, change_op::put, change_class::config, "k", "v"});
    out.write("fuzz_decode", "broken-truncated-set", set.substr(0, set.size() - 2));
    out.write("fuzz_decode", "broken-key-over-limit",
              encode(set_request{1, 1, change_op::put, change_class::operational, std::string(1025, 'k'), "v"}));
}

// ---- fuzz_cluster_file: cluster.toml ----

void cluster_seeds(seed_writer& out) {
    const std::vector<std::pair<std::string, std::string>> files = {
        {"valid-single", "[[broker]]\nname = \"A\"\nendpoint = \"tcp://127.0.0.1:5670\"\n"},
        {"valid-three-all-settings",
         "heartbeat_ms = 100\nexpiry_ms = 300\nack = \"all\"\nfsync = \"never\"\n\n"
         "[[broker]]\nname = \"A\"\nendpoint = \"tcp://10.0.0.1:5670\"\n\n"
         "[[broker]]\nname = \"B-2\"\nendpoint = \"tcp://broker-b.example:5670\"\n\n"
         "[[broker]]\nname = \"c_3.x\"\nendpoint = \"tcp://[::1]:5690\"  # a comment\n"},
        {"valid-inline-tables",
         "ack = 'local'\nbroker = [ { name = 'A', endpoint = 'tcp://127.0.0.1:5670' },\n"
         "           { name = 'B', endpoint = 'tcp://127.0.0.1:5680' } ]\n"},
        {"broken-not-toml", "[[broker]\nname = \"A\n"},
        {"broken-no-broker", "heartbeat_ms = 1000\n"},
        {"broken-unknown-setting", "heartbit_ms = 5\n[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:1\"\n"},
        {"broken-duplicate-name",
         "[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:5670\"\n[[broker]]\nname = \"A\"\nendpoint = "
         "\"tcp://h:5680\"\n"},
        {"broken-port-overlap",
         "[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:5670\"\n[[broker]]\nname = \"B\"\nendpoint = "
         "\"tcp://h:5672\"\n"},
        {"broken-port-range", "[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:65534\"\n"},
        {"broken-endpoint", "[[broker]]\nname = \"A\"\nendpoint = \"udp://h\"\n"},
        {"broken-name", "[[broker]]\nname = \"A B\"\nendpoint = \"tcp://h:1\"\n"},
        {"broken-expiry",
         "heartbeat_ms = 1000\nexpiry_ms = 1500\n[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:1\"\n"},
        {"broken-types", "heartbeat_ms = \"fast\"\nack = 3\n[[broker]]\nname = 1\nendpoint = true\n"},
        {"broken-broker-not-table", "broker = [1, 2]\n"},
        {"valid-curve",
         "[security]\nmode = \"curve\"\n\n[[client]]\nname = \"ops\"\nrole = \"admin\"\n"
         "public_key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n\n[[broker]]\nname = \"A\"\n"
         "endpoint = \"tcp://127.0.0.1:5670\"\npublic_key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n"},
    };
    for (const auto& [name, text] : files) out.write("fuzz_cluster_file", name, text);
}

// ---- fuzz_durable_store: data directories made by the real store ----

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The mode byte and layout of fuzz_durable_store.cpp.
constexpr char mode_log = 0, mode_snapshot = 1, mode_meta = 2, mode_both = 3;
constexpr char fix_checksums = static_cast<char>(0x80);

std::string both(const std::string& snapshot, const std::string& log) {
    std::string s(1, mode_both);
    s += static_cast<char>(snapshot.size() & 0xFF);
    s += static_cast<char>((snapshot.size() >> 8) & 0xFF);
    return s + snapshot + log;
}

void store_seeds(seed_writer& out, const fs::path& scratch) {
    const std::string t = "fuzz_durable_store";
    const fs::path dir = scratch / "store";
    {
        durable_store store(dir, fsync_mode::never);
        (void)store.recover();
    }
    out.write(t, "log-fresh", std::string(1, mode_log) + read_file(dir / "log"));

    kv_state state;
    std::vector<change> first = {make_change(1, 1, change_op::put, "valve.1", "open", 5),
                                 make_change(1, 2, change_op::put, "valve.2", "shut", 5),
                                 make_change(1, 3, change_op::put, "limit", "12"),
                                 make_change(1, 4, change_op::erase, "valve.2", "", 6),
                                 make_change(1, 5, change_op::put, "valve.1", std::string("\0\xff", 2), 6)};
    std::string old_log;
    {
        durable_store store(dir, fsync_mode::never);
        (void)store.recover();
        store.append(first);
        store.flush();
        store.save_epoch(3);
        old_log = read_file(dir / "log");
        for (const auto& c : first) (void)state.apply(c);
        store.install_snapshot(state);
        const std::vector<change> after = {make_change(3, 6, change_op::put, "valve.3", "open", 7),
                                           make_change(3, 7, change_op::erase, "valve.1", "", 7)};
        store.append(after);
        store.flush();
    }
    const std::string snapshot = read_file(dir / "snapshot");
    const std::string log = read_file(dir / "log");
    const std::string meta = read_file(dir / "meta");

    out.write(t, "log-five-records", std::string(1, mode_log) + old_log);
    out.write(t, "log-five-records-fix", std::string(1, mode_log | fix_checksums) + old_log);
    out.write(t, "log-torn-tail", std::string(1, mode_log) + old_log.substr(0, old_log.size() - 5));
    std::string flipped = old_log;
    flipped[old_log.size() / 2] = static_cast<char>(flipped[old_log.size() / 2] ^ 0x20);
    out.write(t, "log-corrupt-record", std::string(1, mode_log) + flipped);
    out.write(t, "log-corrupt-record-fix", std::string(1, mode_log | fix_checksums) + flipped);
    out.write(t, "snapshot", std::string(1, mode_snapshot) + snapshot);
    out.write(t, "snapshot-fix", std::string(1, mode_snapshot | fix_checksums) + snapshot);
    out.write(t, "meta-epoch-3", std::string(1, mode_meta) + meta);
    out.write(t, "meta-epoch-3-fix", std::string(1, mode_meta | fix_checksums) + meta);
    out.write(t, "snapshot-and-log", both(snapshot, log));
    // The crash between the snapshot's rename and the log's replacement: the old log beside the new snapshot.
    out.write(t, "snapshot-and-stale-log", both(snapshot, old_log));
    std::string fixed = both(snapshot, old_log);
    fixed[0] = static_cast<char>(fixed[0] | fix_checksums);
    out.write(t, "snapshot-and-stale-log-fix", fixed);
}

// ---- fuzz_file_path: remote paths ----

void path_seeds(seed_writer& out) {
    const std::vector<std::pair<std::string, std::string>> paths = {
        {"plain", "docs/report.pdf"},
        {"dot-and-double-slash", "./a//b/./c.txt"},
        {"utf8", "donn\u00e9es/\u20ac/\U0001F4C4.txt"},
        {"dotdot", "../etc/passwd"},
        {"dotdot-inside", "a/b/../../../c"},
        {"absolute", "/etc/shadow"},
        {"trailing-slash", "a/b/"},
        {"backslash", "a\\..\\b"},
        {"drive", "C:/Windows/system.ini"},
        {"reserved", "a/.STARBUS-tmp/x"},
        {"nul", std::string("a\0b", 3)},
        {"control", "a\x1b[31mb"},
        {"overlong-slash", "a\300\257b"},  // '/' as an overlong 2-byte sequence
        {"surrogate", "a\xed\xa0\x80"},
        {"beyond-unicode", "a\xf4\x90\x80\x80"},
        {"c1-control", "a\xc2\x85"},
        {"only-dots", "./././."},
        {"deep",
         [] {
             std::string p;
             for (int i = 0; i < 33; ++i) p += "d/";
             return p + "f";
         }()},
        {"long-component", std::string(256, 'x')},
    };
    for (const auto& [name, p] : paths) out.write("fuzz_file_path", name, p);
}

// ---- fuzz_manifest: lists of file_entry as MessagePack ----

void manifest_seeds(seed_writer& out) {
    const auto pack = [](const std::vector<file_entry>& entries) {
        msgpack::sbuffer b;
        msgpack::pack(b, entries);
        return packed(b);
    };
    const std::string h1(64, 'a'), h2(64, 'b');
    out.write("fuzz_manifest", "empty", pack({}));
    out.write("fuzz_manifest", "three-files",
              pack({{"a.txt", 10, h1, 1, 3, ""}, {"dir/b.bin", 1 << 20, h2, 1, 4, ""}, {"z", 0, h1, 2, 9, ""}}));
    out.write("fuzz_manifest", "unknown-hash", pack({{"a.txt", 10, "", 1, 3, ""}, {"b.txt", 5, h2, 1, 4, ""}}));
    out.write("fuzz_manifest", "duplicate-path", pack({{"a.txt", 10, h1, 1, 3, ""}, {"a.txt", 11, h2, 1, 5, ""}}));
    out.write("fuzz_manifest", "unsorted",
              pack({{"z", 1, h1, 1, 1, ""}, {"a", 2, h2, 1, 2, ""}, {"m", 3, h1, 1, 3, ""}}));
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(2);
    pk.pack_array(2);  // an entry cut short: the missing fields take their defaults
    pk.pack("short");
    pk.pack(7);
    pk.pack_array(5);  // an entry with a wrong type
    pk.pack(1);
    pk.pack("size");
    pk.pack(h1);
    pk.pack(1);
    pk.pack(1);
    out.write("fuzz_manifest", "short-and-wrong-entries", packed(b));
}

// ---- fuzz_chunk_plan: operation tapes ----

// Builds an input for fuzz_chunk_plan.cpp, whose FuzzedDataProvider reads
// integers from the end of the data, most significant byte first.
class tape {
  public:
    // A value in [0, range]: as many bytes as range needs.
    tape& value(std::uint64_t v, std::uint64_t range) {
        int bytes = 0;
        while (bytes < 8 && (range >> (8 * bytes)) > 0) ++bytes;
        for (int i = bytes - 1; i >= 0; --i) _consumed.push_back(static_cast<char>(v >> (8 * i)));
        return *this;
    }
    tape& op(int code) { return value(static_cast<std::uint64_t>(code), 5); }
    // The data, laid out so that the first value pushed is the first consumed.
    [[nodiscard]] std::string bytes() const { return {_consumed.rbegin(), _consumed.rend()}; }

  private:
    std::string _consumed;
};

// The start of every tape: a small file (size choice 0), a small chunk size, a credit, start offset 0.
tape small_transfer(std::uint64_t file_size, std::uint64_t chunk, std::uint64_t credit) {
    tape t;
    t.value(0, 2).value(file_size, 4096);  // pick_size: small
    t.value(1, 255).value(chunk, 64);      // ConsumeBool true, chunk size
    t.value(credit, 16);
    t.value(1, 255).value(0, file_size);  // ConsumeBool true, start 0
    return t;
}

void chunk_seeds(seed_writer& out) {
    const std::string t = "fuzz_chunk_plan";
    {
        // 10 chunks, credit 4: fill the window, receive in order, refill, until done.
        tape s = small_transfer(100, 10, 4);
        for (int i = 0; i < 4; ++i) s.op(0);
        for (int round = 0; round < 6; ++round) s.op(2).value(0, 3).op(0);  // receive the oldest, refill
        for (int left = 4; left > 0; --left) s.op(2).value(0, static_cast<std::uint64_t>(left - 1));
        out.write(t, "in-order", s.bytes());
    }
    {
        // Out of order arrivals, a duplicate and a misshapen chunk, a failover, a resume.
        tape s = small_transfer(64, 8, 4);
        for (int i = 0; i < 4; ++i) s.op(1);
        s.op(2).value(2, 3);              // the third in flight arrives first
        s.op(3).value(2, 3).value(1, 2);  // its duplicate
        s.op(3).value(0, 3).value(2, 2);  // the first, one byte too long
        s.op(2).value(0, 2);              // the first
        s.op(5).value(0, 2);              // failover: restart_from(reached())
        for (int i = 0; i < 8; ++i) s.op(0).op(2).value(0, 0);
        out.write(t, "out-of-order-failover", s.bytes());
    }
    {
        // A file near the top of the 64-bit range, a chunk size near it too, start near the end.
        tape s;
        s.value(2, 2).value(0, 4096);
        s.value(0, 255).value(~std::uint64_t{0} - 5, ~std::uint64_t{0});
        s.value(2, 16);
        s.value(0, 255).value(~std::uint64_t{0} - 10, ~std::uint64_t{0});
        s.op(0).op(0).op(2).op(4).value(0, ~std::uint64_t{0}).value(0, ~std::uint64_t{0});
        s.op(5).value(1, 2);
        out.write(t, "huge-file", s.bytes());
    }
    out.write(t, "zero-credit", small_transfer(10, 1, 0).bytes());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR  (writes OUT_DIR/<fuzz target>/<seed>)\n", argv[0]);
        return 2;
    }
    spdlog::set_level(spdlog::level::warn);
    const fs::path scratch = fs::temp_directory_path() / ("starbus-make-seeds-" + std::to_string(::getpid()));
    try {
        seed_writer out{fs::path(argv[1])};
        fs::remove_all(scratch);
        fs::create_directories(scratch);
        decode_seeds(out);
        cluster_seeds(out);
        store_seeds(out, scratch);
        path_seeds(out);
        manifest_seeds(out);
        chunk_seeds(out);
        fs::remove_all(scratch);
        std::printf("make_seeds: wrote %d seeds under %s\n", out.count(), argv[1]);
    } catch (const std::exception& e) {
        std::error_code ec;
        fs::remove_all(scratch, ec);
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
