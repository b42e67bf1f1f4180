// File: testutil.hpp
// Shared helpers for starbus tests: waiting on a condition with a deadline
// (never a bare sleep), temporary directories that clean themselves, and
// loopback addresses and ports that parallel tests do not share.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>

namespace starbus::test {

// Polls `ready` every few milliseconds until it returns true or `timeout`
// passes. Returns whether it became true.
inline bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (ready()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(poll);
    }
}

// A fresh directory under the system temp dir, removed with everything in it.
class temp_dir {
  public:
    temp_dir() {
        std::random_device rd;
        _path = std::filesystem::temp_directory_path() /
                ("starbus-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(_path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return _path; }

  private:
    std::filesystem::path _path;
};

// A random loopback address 127.x.y.z (z != 0, != 255), so that tests running
// in parallel never compete for a port.
inline std::string random_loopback_host() {
    std::random_device rd;
    std::uniform_int_distribution<int> octet(1, 254);
    return "127." + std::to_string(octet(rd)) + "." + std::to_string(octet(rd)) + "." + std::to_string(octet(rd));
}

// A random base port; brokers use base, base+10, ... and each uses P..P+2.
inline int random_base_port() {
    std::random_device rd;
    return std::uniform_int_distribution<int>(20000, 59000)(rd);
}

}  // namespace starbus::test
