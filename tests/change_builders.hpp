// File: change_builders.hpp
// Short ways to write a change record in unit tests.
#pragma once

#include <starbus/files/file_manifest.hpp>
#include <starbus/wire/types.hpp>

namespace starbus::test {

inline change put(std::uint64_t epoch, std::uint64_t seq, std::string key, std::string value,
                  std::uint64_t client = 0, std::uint64_t request = 0) {
    change c;
    c.epoch = epoch;
    c.seq = seq;
    c.op = change_op::put;
    c.key = std::move(key);
    c.value = std::move(value);
    c.client_id = client;
    c.request_id = request;
    return c;
}

inline change erase(std::uint64_t epoch, std::uint64_t seq, std::string key) {
    change c;
    c.epoch = epoch;
    c.seq = seq;
    c.op = change_op::erase;
    c.key = std::move(key);
    return c;
}

// A file_put of `path` with the digests of `content` (the SHA-256 and XXH3-128 are given, since this header
// stays free of the hash libraries; tests pass real ones when content matters).
inline change file_put(std::uint64_t epoch, std::uint64_t seq, std::string path, std::uint64_t size, std::string hash,
                       std::string xxh = std::string(32, '0')) {
    change c = file_put_change(file_entry{std::move(path), size, std::move(hash), epoch, seq, std::move(xxh)});
    c.epoch = epoch;
    c.seq = seq;
    return c;
}

inline change file_erase(std::uint64_t epoch, std::uint64_t seq, std::string path) {
    change c;
    c.epoch = epoch;
    c.seq = seq;
    c.op = change_op::file_erase;
    c.cls = change_class::config;
    c.key = std::move(path);
    return c;
}

}  // namespace starbus::test
