// File: change_builders.hpp
// Short ways to write a change record in unit tests.
#pragma once

#include <starbus/common/types.hpp>

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

}  // namespace starbus::test
