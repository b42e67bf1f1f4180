// File: history.hpp
// What the chaos workers record and the checker reads: one JSON object per
// line (JSON Lines), appended and flushed as things happen, so that a
// history survives its writer being killed. Kinds of line:
//
//   {"type":"invoke","p":"c1","i":7,"kind":"set_op","key":K,"value":V,"t":MS}
//   {"type":"invoke","p":"c1","i":8,"kind":"publish","key":TOPIC,"value":PAYLOAD,"pseq":3,"t":MS}
//   {"type":"complete","p":"c1","i":7,"outcome":"ok","t":MS,"server":"A","epoch":3,"seq":120,"msg":""}
//   {"type":"msg","p":"s1","t":MS,"topic":T,"payload":P}
//   {"type":"event","p":"c1","t":MS,"kind":"server_changed","text":"..."}
//
// An invoke is written before the request is sent and its completion after
// the answer; an invoke without a completion (the worker died) counts as an
// outcome unknown. Times are wall-clock milliseconds (CLOCK_REALTIME), the
// clock the brokers' log lines use, so a timeline can interleave both.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starbus::chaos {

enum class op_kind : std::uint8_t {
    set_op,      // an operational change (set of a key never written before)
    set_config,  // a configuration change (change_class::config), same
    publish,     // a bus publish: key holds the topic, value the payload
};
[[nodiscard]] std::string_view to_string(op_kind k);
[[nodiscard]] std::optional<op_kind> parse_op_kind(std::string_view s);

// Jepsen's three outcomes of an operation.
enum class outcome : std::uint8_t {
    ok,    // acknowledged
    fail,  // definitely not applied: refused or invalid
    info,  // unknown: timed out, no broker reachable, or never completed
};
[[nodiscard]] std::string_view to_string(outcome o);
[[nodiscard]] std::optional<outcome> parse_outcome(std::string_view s);

struct op_record {
    std::string process;      // the worker that made it ("c1")
    std::uint64_t index = 0;  // its number in that worker's history
    op_kind kind = op_kind::set_op;
    std::string key;            // set: the key; publish: the topic
    std::string value;          // set: the value; publish: the payload (unique per run)
    std::uint64_t pub_seq = 0;  // publish: the publisher's own sequence number, from 1
    std::int64_t invoke_ms = 0;
    std::optional<std::int64_t> complete_ms;  // nullopt: never completed
    outcome result = outcome::info;
    std::string message;      // why it failed or is unknown
    std::string server;       // the broker that answered, when known
    std::uint64_t epoch = 0;  // the acknowledged position (ok changes)
    std::uint64_t seq = 0;
};

struct received_message {
    std::string subscriber;
    std::string topic;
    std::string payload;
    std::int64_t at_ms = 0;
    // Where it sits in the cluster's log, as delivered (0, 0: not recorded).
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
};

struct event_record {
    std::string process;
    std::int64_t at_ms = 0;
    std::string kind;  // server_changed, server_lost, synchronised, change_refused; "gap" once the bus reports gaps
    std::string text;
};

struct history {
    std::vector<op_record> ops;  // invoke order per process; processes one after the other
    std::vector<received_message> messages;
    std::vector<event_record> events;
    std::vector<std::string> subscribers;               // every process that wrote a msg line or said it subscribes
    std::map<std::string, std::int64_t> subscribed_at;  // when each said it subscribes (its "subscriber" line)
    std::size_t bad_lines = 0;                          // lines that were not a record (a torn last line, say)
};

// Writers (one line each, without the newline).
[[nodiscard]] std::string invoke_line(const op_record& op);
[[nodiscard]] std::string complete_line(const op_record& op);
[[nodiscard]] std::string message_line(const received_message& m);
[[nodiscard]] std::string event_line(const event_record& e);
[[nodiscard]] std::string subscriber_line(std::string_view process, std::int64_t at_ms);

// Adds every line of `text` to `h`; a completion is matched to its invoke.
void read_history_text(std::string_view text, history& h);
// Reads a file; throws std::runtime_error when it cannot be opened.
void read_history_file(const std::string& path, history& h);

}  // namespace starbus::chaos
