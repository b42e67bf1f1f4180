// File: example_support.hpp
// What every example program shares: a clean stop on SIGINT/SIGTERM, time
// stamps for log lines, and finding the cluster file (--cluster or the
// STARBUS_CLUSTER environment variable; on a CURVE cluster, the key file
// named by STARBUS_KEY).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include <starbus/client/client_options.hpp>

namespace starbus_example {

// Set by the signal handler: the only process-wide state an example has.
inline volatile std::sig_atomic_t stop = 0;

extern "C" inline void on_signal(int) { stop = 1; }

inline void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

// HH:MM:SS.mmm, local time.
inline std::string now_text() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

// One time-stamped line on stdout, flushed (the demo follows these logs).
inline void log_line(const char* who, const std::string& line) {
    std::cout << now_text() << " " << who << ": " << line << std::endl;
}

// The cluster file from --cluster, else $STARBUS_CLUSTER; "" (after saying
// so on stderr) when neither is given.
inline std::string cluster_file_or_env(std::string given, const char* who) {
    if (given.empty() && std::getenv("STARBUS_CLUSTER")) given = std::getenv("STARBUS_CLUSTER");
    if (given.empty()) std::cerr << who << ": pass --cluster FILE or set STARBUS_CLUSTER" << std::endl;
    return given;
}

// Client options for the cluster named by --cluster (or $STARBUS_CLUSTER);
// nullopt, after saying why on stderr, when there is none or it is broken.
inline std::optional<starbus::client_options> load_options(const std::string& given, const char* who) {
    const std::string file = cluster_file_or_env(given, who);
    if (file.empty()) return std::nullopt;
    starbus::client_options opts;
    try {
        opts.cluster = starbus::load_cluster_file(file);
        // A CURVE cluster needs this program's key: the file named by $STARBUS_KEY.
        const char* key = std::getenv("STARBUS_KEY");
        if (opts.cluster.curve() && !(key && *key)) {
            std::cerr << who << ": " << file << " uses CURVE: set STARBUS_KEY to this program's NAME.key" << std::endl;
            return std::nullopt;
        }
        if (opts.cluster.curve()) opts.key = starbus::load_secret_key_file(key);
    } catch (const starbus::config_error& e) {
        std::cerr << who << ": " << e.what() << std::endl;
        return std::nullopt;
    } catch (const starbus::key_error& e) {
        std::cerr << who << ": " << e.what() << std::endl;
        return std::nullopt;
    }
    return opts;
}

}  // namespace starbus_example
