// File: history.cpp
// JSON Lines records of a chaos run (see history.hpp), written by the
// workers and read back by the checker.
#include "history.hpp"

#include "text_lines.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace starbus::chaos {

namespace {

using json = nlohmann::json;

// Keys and payloads are the workers' own ASCII; replace anything else
// rather than throw while writing a history.
std::string dump_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string_view to_string(op_kind k) {
    switch (k) {
        case op_kind::set_op: return "set_op";
        case op_kind::set_config: return "set_config";
        case op_kind::publish: return "publish";
    }
    return "?";
}

std::optional<op_kind> parse_op_kind(std::string_view s) {
    for (auto k : {op_kind::set_op, op_kind::set_config, op_kind::publish})
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::string_view to_string(outcome o) {
    switch (o) {
        case outcome::ok: return "ok";
        case outcome::fail: return "fail";
        case outcome::info: return "info";
    }
    return "?";
}

std::optional<outcome> parse_outcome(std::string_view s) {
    for (auto o : {outcome::ok, outcome::fail, outcome::info})
        if (to_string(o) == s) return o;
    return std::nullopt;
}

std::string invoke_line(const op_record& op) {
    json j = {{"type", "invoke"}, {"p", op.process},   {"i", op.index},    {"kind", to_string(op.kind)},
              {"key", op.key},    {"value", op.value}, {"t", op.invoke_ms}};
    if (op.kind == op_kind::publish) j["pseq"] = op.pub_seq;
    return dump_line(j);
}

std::string complete_line(const op_record& op) {
    json j = {{"type", "complete"},
              {"p", op.process},
              {"i", op.index},
              {"outcome", to_string(op.result)},
              {"t", op.complete_ms.value_or(0)},
              {"server", op.server},
              {"epoch", op.epoch},
              {"seq", op.seq},
              {"msg", op.message}};
    return dump_line(j);
}

std::string message_line(const received_message& m) {
    return dump_line(
        {{"type", "msg"}, {"p", m.subscriber}, {"t", m.at_ms}, {"topic", m.topic}, {"payload", m.payload},
         {"epoch", m.epoch}, {"seq", m.seq}});
}

std::string event_line(const event_record& e) {
    return dump_line({{"type", "event"}, {"p", e.process}, {"t", e.at_ms}, {"kind", e.kind}, {"text", e.text}});
}

std::string subscriber_line(std::string_view process, std::int64_t at_ms) {
    return dump_line({{"type", "subscriber"}, {"p", process}, {"t", at_ms}});
}

void read_history_text(std::string_view text, history& h) {
    // (process, index) -> position in h.ops, to match completions to invokes.
    std::map<std::pair<std::string, std::uint64_t>, std::size_t> open;
    for (std::size_t i = 0; i < h.ops.size(); ++i) open[{h.ops[i].process, h.ops[i].index}] = i;
    auto add_subscriber = [&](const std::string& p) {
        for (const auto& s : h.subscribers)
            if (s == p) return;
        h.subscribers.push_back(p);
    };

    for_each_line(text, [&](std::string_view line) {
        if (line.empty()) return;
        try {
            const json j = json::parse(line);
            const std::string type = j.at("type");
            const std::string process = j.at("p");
            if (type == "invoke") {
                op_record op;
                op.process = process;
                op.index = j.at("i");
                auto kind = parse_op_kind(j.at("kind").get<std::string>());
                if (!kind) throw std::runtime_error("unknown kind");
                op.kind = *kind;
                op.key = j.at("key");
                op.value = j.at("value");
                op.pub_seq = j.value("pseq", std::uint64_t{0});
                op.invoke_ms = j.at("t");
                open[{op.process, op.index}] = h.ops.size();
                h.ops.push_back(std::move(op));
            } else if (type == "complete") {
                auto it = open.find({process, j.at("i").get<std::uint64_t>()});
                auto result = parse_outcome(j.at("outcome").get<std::string>());
                if (it == open.end() || !result) throw std::runtime_error("completion without invoke");
                op_record& op = h.ops[it->second];
                op.result = *result;
                op.complete_ms = j.at("t").get<std::int64_t>();
                op.server = j.value("server", "");
                op.epoch = j.value("epoch", std::uint64_t{0});
                op.seq = j.value("seq", std::uint64_t{0});
                op.message = j.value("msg", "");
            } else if (type == "msg") {
                add_subscriber(process);
                h.messages.push_back({process, j.at("topic"), j.at("payload"), j.at("t"), j.value("epoch", std::uint64_t{0}),
                                      j.value("seq", std::uint64_t{0})});
            } else if (type == "event") {
                h.events.push_back({process, j.at("t"), j.at("kind"), j.value("text", "")});
            } else if (type == "subscriber") {
                add_subscriber(process);
                h.subscribed_at[process] = j.at("t").get<std::int64_t>();
            } else {
                ++h.bad_lines;
            }
        } catch (const std::exception&) {
            ++h.bad_lines;
        }
    });
}

void read_history_file(const std::string& path, history& h) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read history " + path + ": did its worker start?");
    std::stringstream ss;
    ss << f.rdbuf();
    read_history_text(ss.str(), h);
}

}  // namespace starbus::chaos
