// File: broker_log.hpp
// Reads the lines of a broker's log that the checker and the failure
// timeline need: when it started serving and at which epoch ("serving at
// epoch E ..."), its role transitions ("fsm: A --event--> B ..."), and its
// errors. The broker stamps lines with the local time of day only
// (HH:MM:SS.mmm); the reader turns that into wall-clock milliseconds near a
// reference time (the run's start), so that log lines and history records
// share one time line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starbus::chaos {

struct log_line {
    std::string broker;
    std::int64_t at_ms = 0;  // wall clock
    std::string level;       // info, warning, error, critical
    std::string text;        // the message after the level
};

struct broker_log {
    std::vector<log_line> serving;              // "serving at epoch E" lines
    std::vector<std::uint64_t> serving_epochs;  // E of each, same order
    std::vector<log_line> transitions;          // "fsm: ..." lines
    std::vector<log_line> errors;               // error and critical lines
};

// Scans one broker's log text. `reference_ms` is a wall-clock time near the
// first line (the run's start): lines are placed on the day that keeps them
// in order from there.
[[nodiscard]] broker_log scan_broker_log(std::string_view text, std::string_view broker, std::int64_t reference_ms);

// Milliseconds since the Unix epoch, now (CLOCK_REALTIME).
[[nodiscard]] std::int64_t wall_ms();
// "19:22:01.123", local time, as the brokers print it.
[[nodiscard]] std::string clock_text(std::int64_t wall_ms);

}  // namespace starbus::chaos
