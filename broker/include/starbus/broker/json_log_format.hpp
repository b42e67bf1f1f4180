// File: json_log_format.hpp
// How starbus-broker writes its log lines (--log-format): text for people, as always, or one JSON object per
// line for log collectors (Loki, Elasticsearch, `jq`):
//   {"time":"2024-05-01T12:34:56.789Z","broker":"A","level":"info","event":"…","fields":{}}
// `time` is UTC with milliseconds, `level` one of trace, debug, info, warn, error, critical (the words of
// --log-level), `event` the line's text as the text format shows it. `fields` is an object for structured
// values; it is empty today: the broker's log calls are spdlog format strings, with nothing structured to
// carry (spdlog 1.10 has no context fields), so a collector reads everything from `event`.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

namespace starbus {

enum class log_format {
    text,  // "12:34:56.789 A info message", local time (stderr of a terminal, or a file read by people)
    json,  // one JSON object per line (json_log_formatter)
};

// Appends `text` to `out` as the inside of a JSON string (RFC 8259): '"' and '\' escaped, control characters
// as \n, \t… or \u00XX, and every byte sequence that is not valid UTF-8 (a stray continuation byte, an
// overlong form, a surrogate, past U+10FFFF, a sequence cut short) replaced by U+FFFD, one per maximal invalid
// subpart (Unicode's recommended practice), so that any log line, even one quoting bytes from the network,
// is valid JSON.
void append_json_string_content(std::string& out, std::string_view text);

// The spdlog formatter of log_format::json, for one broker.
class json_log_formatter final : public spdlog::formatter {
  public:
    // `broker` is this broker's name; empty while it is not known yet (before the cluster file is read).
    explicit json_log_formatter(std::string_view broker);

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

  private:
    std::string _broker;  // the name, already escaped
};

// Sets the format of every spdlog logger, for broker `broker` (empty while it is not known yet).
void set_log_format(log_format format, std::string_view broker);

}  // namespace starbus
