// File: fuzz_manifest.cpp
// libFuzzer target for file manifests (file_manifest.hpp) as they arrive from a
// peer: any bytes, unpacked as a MessagePack array of file_entry under the
// unpack limits of the wire codec (codec.cpp), then file_manifest::from_entries().
// An accepted manifest is sorted, has one entry per path, and diffs as it must:
// against itself nothing to delete or relabel, and to fetch exactly the entries
// with neither digest ("unknown content", file_manifest.hpp), so it is in sync
// when every entry has one; against an empty manifest everything to fetch (or,
// the other way round, to delete).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <starbus/files/file_manifest.hpp>
#include <starbus/wire/types.hpp>  // the MessagePack form of file_entry

#include "fuzz_check.hpp"

namespace {

using starbus::fuzz::check;

// The entries the bytes hold, or nothing when they are not a list of file_entry.
std::optional<std::vector<starbus::file_entry>> unpack_entries(const std::uint8_t* data, std::size_t size) {
    try {
        // The wire codec's limits (codec.cpp): what a FILE-LIST frame could carry,
        // with counts bounded by the input's size as decode() bounds them.
        const auto count = static_cast<std::uint32_t>(std::min<std::size_t>(size, 1u << 20));
        const msgpack::unpack_limit lim(count, std::min<std::uint32_t>(count, 64), 1u << 20, 1u << 20, 1u << 20, 32);
        const msgpack::object_handle handle =
            msgpack::unpack(reinterpret_cast<const char*>(data), size, nullptr, nullptr, lim);
        if (handle.get().type != msgpack::type::ARRAY) return std::nullopt;
        return handle.get().as<std::vector<starbus::file_entry>>();
    } catch (const std::exception&) {
        return std::nullopt;  // not MessagePack, over a limit, or the wrong shape
    }
}

void check_self_diff(const starbus::file_manifest& m) {
    const starbus::manifest_diff d = starbus::diff(m, m);
    check(d.to_delete.empty(), "a manifest deletes nothing from itself");
    check(d.to_relabel.empty(), "a manifest relabels nothing of itself");
    std::vector<starbus::file_entry> unknown;
    std::uint64_t unknown_bytes = 0;
    // Unknown content: neither digest known (file_entry::same_content compares the XXH3-128 when a side
    // lacks the SHA-256, so an entry with only an XXH3-128 matches itself).
    for (const auto& e : m)
        if (e.second.hash.empty() && e.second.xxh.empty()) {
            unknown.push_back(e.second);
            unknown_bytes += e.second.size;
        }
    check(d.to_fetch == unknown, "against itself, only entries of unknown content are fetched");
    check(d.bytes_to_fetch == unknown_bytes, "bytes_to_fetch adds up what is fetched");
    check(d.in_sync() == unknown.empty(), "a manifest with every hash known is in sync with itself");
}

void check_empty_diffs(const starbus::file_manifest& m) {
    const starbus::file_manifest none;
    const starbus::manifest_diff fetch_all = starbus::diff(none, m);
    check(fetch_all.to_fetch == m.entries(), "from nothing, every entry is fetched, in path order");
    check(fetch_all.to_delete.empty() && fetch_all.to_relabel.empty(), "from nothing, nothing to delete or relabel");
    check(fetch_all.bytes_to_fetch == m.total_bytes(), "from nothing, every byte is fetched");
    check(fetch_all.in_sync() == m.empty(), "from nothing, in sync only with nothing");

    const starbus::manifest_diff delete_all = starbus::diff(m, none);
    check(delete_all.to_fetch.empty() && delete_all.to_relabel.empty(), "to nothing, nothing to fetch or relabel");
    check(delete_all.to_delete.size() == m.size(), "to nothing, every path is deleted");
    std::size_t i = 0;
    for (const auto& e : m) check(delete_all.to_delete[i++] == e.first, "deletions in path order");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<std::vector<starbus::file_entry>> entries = unpack_entries(data, size);
    if (!entries) return 0;
    std::set<std::string> paths;
    for (const auto& e : *entries) paths.insert(e.path);
    const std::size_t count = entries->size();

    std::string why;
    const std::optional<starbus::file_manifest> m = starbus::file_manifest::from_entries(std::move(*entries), &why);
    if (!m) {
        check(paths.size() < count, "a manifest is refused only for a duplicate path");
        check(!why.empty(), "a refused manifest comes with a reason");
        return 0;
    }
    check(paths.size() == count && m->size() == count, "an accepted manifest keeps every entry");
    std::uint64_t total = 0;
    const std::string* previous = nullptr;
    for (const auto& [path, e] : *m) {
        check(path == e.path, "entries are keyed by their path");
        check(previous == nullptr || *previous < path, "entries are sorted by path, one per path");
        check(m->find(path) == &e, "find() finds every entry");
        previous = &path;
        total += e.size;
    }
    check(total == m->total_bytes(), "total_bytes() adds up the sizes");
    check_self_diff(*m);
    check_empty_diffs(*m);
    return 0;
}
