// File: broker_log.cpp
// Scanning broker logs for serving epochs, transitions and errors (see
// broker_log.hpp). The broker's line format is set in broker/main.cpp:
// "%H:%M:%S.%e NAME LEVEL message".
#include "broker_log.hpp"

#include "text_lines.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace starbus::chaos {

namespace {

constexpr std::int64_t day_ms = 86'400'000;

// Milliseconds since local midnight from "HH:MM:SS.mmm", or -1.
std::int64_t time_of_day(std::string_view s) {
    if (s.size() < 12 || s[2] != ':' || s[5] != ':' || s[8] != '.') return -1;
    auto digits = [&](std::size_t at, std::size_t n) {
        std::int64_t v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::int64_t{-1};
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    const auto h = digits(0, 2), m = digits(3, 2), sec = digits(6, 2), ms = digits(9, 3);
    if (h < 0 || m < 0 || sec < 0 || ms < 0) return -1;
    return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

// The wall-clock time of local midnight before `wall`.
std::int64_t local_midnight(std::int64_t wall) {
    const std::time_t t = static_cast<std::time_t>(wall / 1000);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    const std::int64_t since = ((tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * 1000 + wall % 1000;
    return wall - since;
}

}  // namespace

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string clock_text(std::int64_t wall) {
    const std::time_t t = static_cast<std::time_t>(wall / 1000);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(wall % 1000));
    return buf;
}

broker_log scan_broker_log(std::string_view text, std::string_view broker, std::int64_t reference_ms) {
    broker_log out;
    std::int64_t midnight = local_midnight(reference_ms);
    std::int64_t last = reference_ms - 3'600'000;  // a line an hour before the reference is still this day
    for_each_line(text, [&](std::string_view line) {
        const auto tod = time_of_day(line);
        if (tod < 0) return;
        std::int64_t at = midnight + tod;
        // Past midnight, the time of day starts again from zero.
        if (at < last - 3'600'000) {
            midnight += day_ms;
            at += day_ms;
        }
        last = at;
        // "HH:MM:SS.mmm NAME LEVEL rest"
        auto rest = line.substr(13);
        const auto sp1 = rest.find(' ');
        if (sp1 == std::string_view::npos) return;
        rest = rest.substr(sp1 + 1);
        const auto sp2 = rest.find(' ');
        if (sp2 == std::string_view::npos) return;
        log_line l{std::string(broker), at, std::string(rest.substr(0, sp2)), std::string(rest.substr(sp2 + 1))};
        if (l.text.rfind("serving at epoch ", 0) == 0) {
            out.serving_epochs.push_back(std::strtoull(l.text.c_str() + 17, nullptr, 10));
            out.serving.push_back(l);
        } else if (l.text.rfind("fsm: ", 0) == 0) {
            out.transitions.push_back(l);
        }
        if (l.level == "error" || l.level == "critical") out.errors.push_back(std::move(l));
    });
    return out;
}

}  // namespace starbus::chaos
