// File: json_log_format.cpp
// The broker's log formats (json_log_format.hpp): the text pattern, and the JSON formatter with its escaping.
#include <starbus/broker/json_log_format.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// U+FFFD REPLACEMENT CHARACTER, in UTF-8.
constexpr std::string_view replacement = "\xEF\xBF\xBD";

// The length of the valid UTF-8 sequence at the start of `s` (1 to 4), or 0 when it is not one; then
// `*invalid` is the length of its maximal invalid subpart (at least 1): the bytes one U+FFFD replaces.
// Table 3-7 of the Unicode standard: the second byte's range depends on the first byte.
std::size_t utf8_sequence(std::string_view s, std::size_t* invalid) {
    const auto lead = static_cast<unsigned char>(s[0]);
    std::size_t need = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
    } else if (lead == 0xE0) {
        need = 2, low = 0xA0;  // no overlong forms
    } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
        need = 2;
    } else if (lead == 0xED) {
        need = 2, high = 0x9F;  // no surrogates
    } else if (lead == 0xF0) {
        need = 3, low = 0x90;  // no overlong forms
    } else if (lead >= 0xF1 && lead <= 0xF3) {
        need = 3;
    } else if (lead == 0xF4) {
        need = 3, high = 0x8F;  // nothing past U+10FFFF
    } else {
        *invalid = 1;  // a continuation byte alone, C0, C1, F5..FF
        return 0;
    }
    std::size_t i = 1;
    for (; i <= need && i < s.size(); ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < low || b > high) break;
        low = 0x80, high = 0xBF;
    }
    if (i == need + 1) return i;
    *invalid = i;
    return 0;
}

// "2024-05-01T12:34:56.789Z".
void append_utc_time(std::string& out, spdlog::log_clock::time_point t) {
    using namespace std::chrono;
    const auto since_epoch = duration_cast<milliseconds>(t.time_since_epoch());
    auto seconds_part = duration_cast<seconds>(since_epoch);
    auto ms = (since_epoch - seconds_part).count();
    if (ms < 0) ms += 1000, seconds_part -= seconds(1);  // before 1970: still a positive millisecond field
    const std::time_t whole = static_cast<std::time_t>(seconds_part.count());
    std::tm tm{};
    gmtime_r(&whole, &tm);
    char buffer[40];
    const int n = std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    out.append(buffer, static_cast<std::size_t>(n));
}

// The words of --log-level ("warn", not spdlog's "warning").
std::string_view level_name(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace: return "trace";
        case spdlog::level::debug: return "debug";
        case spdlog::level::info: return "info";
        case spdlog::level::warn: return "warn";
        case spdlog::level::err: return "error";
        case spdlog::level::critical: return "critical";
        case spdlog::level::off:
        case spdlog::level::n_levels: break;
    }
    return "off";
}

}  // namespace

void append_json_string_content(std::string& out, std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            std::size_t invalid = 0;
            if (const std::size_t n = utf8_sequence(text.substr(i), &invalid); n > 0) {
                out.append(text.substr(i, n));
                i += n;
            } else {
                out.append(replacement);
                i += invalid;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex_digits[c >> 4];
                    out += hex_digits[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
}

json_log_formatter::json_log_formatter(std::string_view broker) { append_json_string_content(_broker, broker); }

void json_log_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    std::string line;
    line.reserve(96 + _broker.size() + msg.payload.size());
    line += R"({"time":")";
    append_utc_time(line, msg.time);
    line += R"(","broker":")";
    line += _broker;
    line += R"(","level":")";
    line += level_name(msg.level);
    line += R"(","event":")";
    append_json_string_content(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "\",\"fields\":{}}\n";
    dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
    return std::make_unique<json_log_formatter>(*this);
}

void set_log_format(log_format format, std::string_view broker) {
    if (format == log_format::json) {
        spdlog::set_formatter(std::make_unique<json_log_formatter>(broker));
        return;
    }
    spdlog::set_pattern("%H:%M:%S.%e " + std::string(broker) + " %^%l%$ %v");
}

}  // namespace starbus
