// File: test_json_log_format.cpp
// starbus-broker --log-format json: every line is one JSON object with time, broker, level, event and fields,
// whatever the message holds (quotes, backslashes, newlines, control characters, bytes that are not UTF-8).
#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <starbus/broker/json_log_format.hpp>

using namespace starbus;

namespace {

std::string escaped(std::string_view text) {
    std::string out;
    append_json_string_content(out, text);
    return out;
}

// What a JSON parser reads back from `text` written as a JSON string.
std::string read_back(std::string_view text) {
    std::string quoted = "\"";
    append_json_string_content(quoted, text);
    quoted += '"';
    return nlohmann::json::parse(quoted).get<std::string>();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("log: JSON strings escape quotes, backslashes and control characters", "[log]") {
    CHECK(escaped("plain text, é and ✓") == "plain text, é and ✓");
    CHECK(escaped(R"(say "hi" \ bye)") == R"(say \"hi\" \\ bye)");
    CHECK(escaped("a\nb\r\tc\b\f") == R"(a\nb\r\tc\b\f)");
    CHECK(escaped(std::string("nul\0x\x01\x1f\x7f", 8)) == "nul\\u0000x\\u0001\\u001f\x7f");
    for (const std::string& s : {std::string("\"\\/\n"), std::string("\x00\x10", 2), std::string("\xF0\x9F\x98\x80")})
        CHECK(read_back(s) == s);
}

TEST_CASE("log: bytes that are not UTF-8 become U+FFFD, one per maximal invalid subpart", "[log]") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(escaped("\x80") == fffd);                        // a continuation byte alone
    CHECK(escaped("a\xC0\xAF" "b") == "a" + fffd + fffd + "b");  // C0: never valid, nor its follower alone
    CHECK(escaped("\xE0\x80\x80") == fffd + fffd + fffd);  // overlong: E0 needs A0..BF next
    CHECK(escaped("\xED\xA0\x80") == fffd + fffd + fffd);  // a surrogate
    CHECK(escaped("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // past U+10FFFF
    CHECK(escaped("\xE2\x9C") == fffd);                    // cut short at the end: one replacement
    CHECK(escaped("\xE2\x9C" "x") == fffd + "x");          // cut short before ASCII
    CHECK(escaped("\xF0\x9F\x98" "\xF0\x9F\x98\x80") == fffd + "\xF0\x9F\x98\x80");
    CHECK(escaped("\xFF\xFE") == fffd + fffd);
    // Whatever the bytes, the result is a JSON string (nlohmann's strict parser refuses invalid UTF-8).
    std::string every_byte;
    for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
    CHECK_NOTHROW(read_back(every_byte));
    CHECK_NOTHROW(read_back(every_byte + every_byte.substr(128) + "\xE2"));
}

TEST_CASE("log: the JSON formatter writes one object per line with time, broker, level, event and fields", "[log]") {
    json_log_formatter f("A \"quoted\"");
    spdlog::memory_buf_t out;
    // 2024-05-01T12:34:56.789Z
    const auto when = spdlog::log_clock::time_point(std::chrono::milliseconds(1714566896789));
    f.format(spdlog::details::log_msg(when, {}, "starbus", spdlog::level::warn, "line one\nline \"two\""), out);
    const std::string text(out.data(), out.size());
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    const auto j = nlohmann::json::parse(text);
    CHECK(j["time"] == "2024-05-01T12:34:56.789Z");
    CHECK(j["broker"] == "A \"quoted\"");
    CHECK(j["level"] == "warn");
    CHECK(j["event"] == "line one\nline \"two\"");
    CHECK(j["fields"].is_object());
    CHECK(j["fields"].empty());
    // The keys in the documented order, for people who read the lines too.
    CHECK(text.rfind(R"({"time":)", 0) == 0);
    CHECK(text.find(R"("broker":)") < text.find(R"("level":)"));
    CHECK(text.find(R"("level":)") < text.find(R"("event":)"));
    CHECK(text.find(R"("event":)") < text.find(R"("fields":)"));
}

TEST_CASE("log: a logger with the JSON formatter writes lines that each parse as JSON", "[log]") {
    std::ostringstream stream;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(stream);
    spdlog::logger logger("json-test", sink);
    logger.set_formatter(std::make_unique<json_log_formatter>("B"));
    logger.set_level(spdlog::level::trace);
    const std::vector<std::pair<spdlog::level::level_enum, std::string>> sent = {
        {spdlog::level::trace, "trace"},   {spdlog::level::debug, "debug"}, {spdlog::level::info, "info"},
        {spdlog::level::warn, "warn"},     {spdlog::level::err, "error"},   {spdlog::level::critical, "critical"},
    };
    const std::string nasty = std::string("key \"k\\\n\x01\xC3", 10) + "\x28 end";
    for (const auto& [level, name] : sent) logger.log(level, "{} says {}", name, nasty);
    logger.flush();
    const auto lines = lines_of(stream.str());
    REQUIRE(lines.size() == sent.size());
    const std::regex iso_utc_ms(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        INFO(lines[i]);
        nlohmann::json j;
        REQUIRE_NOTHROW(j = nlohmann::json::parse(lines[i]));
        REQUIRE(j.is_object());
        CHECK(j.size() == 5);
        CHECK(std::regex_match(j["time"].get<std::string>(), iso_utc_ms));
        CHECK(j["broker"] == "B");
        CHECK(j["level"] == sent[i].second);
        // The invalid "\xC3(" came out as U+FFFD followed by '(': the rest of the text is kept.
        CHECK(j["event"] == sent[i].second + " says key \"k\\\n\x01\xEF\xBF\xBD( end");
    }
}

TEST_CASE("log: set_log_format switches the default logger between text and JSON", "[log]") {
    std::ostringstream stream;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(stream);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("format-test", sink));
    set_log_format(log_format::json, "C");
    spdlog::info("as json");
    set_log_format(log_format::text, "C");
    spdlog::info("as text");
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());  // spdlog's own, for loggers made later
    spdlog::set_default_logger(previous);
    const auto lines = lines_of(stream.str());
    REQUIRE(lines.size() == 2);
    CHECK(nlohmann::json::parse(lines[0])["event"] == "as json");
    CHECK(std::regex_match(lines[1], std::regex(R"(\d\d:\d\d:\d\d\.\d{3} C info as text)")));
}
