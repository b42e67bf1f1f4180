// File: fuzz_durable_store.cpp
// libFuzzer target for a broker's recovery from its data directory
// (durable_store.hpp): the input becomes the files of a fresh data directory
// and durable_store(dir, fsync_mode::never).recover() must return or throw
// storage_error, never crash and never allocate without bound. A recovery that
// succeeded leaves a clean directory: recovering it again gives the same state,
// with nothing left to cut.
//
// The first byte chooses the mode (low 2 bits) and whether the harness fixes
// the checksums (bit 7), so that mutations reach the record decoding and the
// history checks instead of stopping at the first CRC:
//   0  the rest is `log`
//   1  the rest is `snapshot`, beside an empty log based at (0, 0)
//   2  the rest is `meta`
//   3  bytes 1-2 (u16 little-endian) are the snapshot's length: `snapshot`,
//      then `log` from what follows (a snapshot and the log after it)
// The directory (under $TMPDIR, else /dev/shm when there is one: recovery
// syncs, which costs nothing there) is made fresh and removed for every input.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <spdlog/spdlog.h>

#include <starbus/broker/durable_store.hpp>

#include "fuzz_check.hpp"

namespace {

namespace fs = std::filesystem;
using starbus::fuzz::check;

// CRC-32C (Castagnoli), bit by bit: the format's checksum (durable_store.hpp).
std::uint32_t crc32c(std::string_view bytes) {
    std::uint32_t crc = ~0u;
    for (const char ch : bytes) {
        crc ^= static_cast<unsigned char>(ch);
        for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void put_u64(std::string& s, std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

// Makes every checksum of a log right: the header's, then each whole record's.
void fix_log(std::string& log) {
    if (log.size() < 32) return;
    put_u32(log, 28, crc32c(std::string_view(log).substr(0, 28)));
    for (std::size_t at = 32; at + 8 <= log.size();) {
        const std::uint32_t len = get_u32(log, at);
        if (len == 0 || len > log.size() - at - 8) break;
        std::string covered = log.substr(at, 4) + log.substr(at + 8, len);
        put_u32(log, at + 4, crc32c(covered));
        at += 8 + len;
    }
}

// Makes a snapshot's body length and both checksums right.
void fix_snapshot(std::string& snap) {
    if (snap.size() < 24) return;
    put_u64(snap, 8, snap.size() - 24);
    put_u32(snap, 16, crc32c(std::string_view(snap).substr(24)));
    put_u32(snap, 20, crc32c(std::string_view(snap).substr(0, 20)));
}

void fix_meta(std::string& meta) {
    if (meta.size() >= 20) put_u32(meta, 16, crc32c(std::string_view(meta).substr(0, 16)));
}

// A valid, empty log that follows a snapshot at (0, 0).
std::string empty_log() {
    std::string log("SBLOG001", 8);
    log.append(24, '\0');
    fix_log(log);
    return log;
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    check(static_cast<bool>(out), "the harness can write its temporary data directory");
}

// The data directory of this process, made empty.
fs::path fresh_dir() {
    std::error_code ec;
    const char* tmpdir = std::getenv("TMPDIR");
    const fs::path base = tmpdir && *tmpdir                  ? fs::path(tmpdir)
                          : fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                             : fs::temp_directory_path();
    const fs::path dir = base / ("starbus-fuzz-store-" + std::to_string(::getpid()));
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    check(!ec, "the harness can create its temporary data directory");
    return dir;
}

// Lays out the files the input describes (see the file comment).
void lay_out(const fs::path& dir, const std::uint8_t* data, std::size_t size) {
    const unsigned mode = data[0] & 3u;
    const bool fix = (data[0] & 0x80u) != 0;
    std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string snapshot, log, meta;
    bool have_snapshot = false, have_log = false, have_meta = false;
    switch (mode) {
        case 0: log = std::move(rest), have_log = true; break;
        case 1: snapshot = std::move(rest), log = empty_log(), have_snapshot = have_log = true; break;
        case 2: meta = std::move(rest), have_meta = true; break;
        default: {
            std::size_t len = rest.size() >= 2 ? static_cast<unsigned char>(rest[0]) |
                                                     static_cast<std::size_t>(static_cast<unsigned char>(rest[1])) << 8
                                               : 0;
            rest.erase(0, std::min<std::size_t>(2, rest.size()));
            len = std::min(len, rest.size());
            snapshot = rest.substr(0, len);
            log = rest.substr(len);
            have_snapshot = have_log = true;
        }
    }
    if (fix) {
        fix_snapshot(snapshot);
        if (mode != 1) fix_log(log);
        fix_meta(meta);
    }
    if (have_snapshot) write_file(dir / "snapshot", snapshot);
    if (have_log) write_file(dir / "log", log);
    if (have_meta) write_file(dir / "meta", meta);
}

bool same(const starbus::durable_store::recovered& a, const starbus::durable_store::recovered& b) {
    return a.state.last() == b.state.last() && a.state.entries() == b.state.entries() &&
           a.state.requests() == b.state.requests() && a.tail == b.tail && a.snapshot_position == b.snapshot_position &&
           a.epoch == b.epoch;
}

void check_recovered(const starbus::durable_store::recovered& r) {
    check(r.epoch >= r.state.last().epoch, "the epoch known is at least that of the last change");
    std::uint64_t seq = r.snapshot_position.seq;
    for (const auto& c : r.tail) check(c.seq == ++seq, "the recovered tail is contiguous after the snapshot");
    check(r.state.last().seq == seq, "the state ends where the tail ends");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);  // recovery warns about every torn tail it cuts
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const fs::path dir = fresh_dir();
    lay_out(dir, data, size);
    starbus::durable_store::recovered first;
    bool recovered = false;
    try {
        starbus::durable_store store(dir, starbus::fsync_mode::never);
        first = store.recover();
        recovered = true;
    } catch (const starbus::storage_error&) {
        // A refusal that says what to do: what recovery must give for a damaged directory.
    }
    if (recovered) {
        check_recovered(first);
        starbus::durable_store again(dir, starbus::fsync_mode::never);
        const auto second = again.recover();
        check(second.torn_bytes == 0, "a recovered directory has nothing left to cut");
        check(same(first, second), "recovering a recovered directory gives the same state");
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
