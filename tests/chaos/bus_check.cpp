// File: bus_check.cpp
// Subscriber streams against the publishes (see bus_check.hpp).
#include "bus_check.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

namespace starbus::chaos {

namespace {

struct subscriber_view {
    std::optional<std::int64_t> connected_ms;        // see bus_check.hpp
    std::optional<std::int64_t> said_subscribed_ms;  // its "subscriber" line, if any
    std::vector<const received_message*> messages;
    std::vector<std::int64_t> gap_events;  // times of its "gap" events
};

}  // namespace

void check_bus(const history& h, const checker_options& options, bus_report& out,
               std::vector<std::string>& violations) {
    // Payloads are unique per run: payload -> the publish that sent it.
    std::unordered_map<std::string, const op_record*> by_payload;
    std::map<std::string, std::vector<const op_record*>> by_publisher;  // in pub_seq order
    for (const auto& op : h.ops) {
        if (op.kind != op_kind::publish) continue;
        by_payload[op.value] = &op;
        by_publisher[op.process].push_back(&op);
    }
    for (auto& [p, ops] : by_publisher)
        std::sort(ops.begin(), ops.end(),
                  [](const op_record* a, const op_record* b) { return a->pub_seq < b->pub_seq; });

    std::map<std::string, subscriber_view> subs;
    for (const auto& s : h.subscribers) subs[s];
    for (const auto& m : h.messages) subs[m.subscriber].messages.push_back(&m);
    for (const auto& e : h.events) {
        auto it = subs.find(e.process);
        if (it != subs.end() && e.kind == "gap") it->second.gap_events.push_back(e.at_ms);
    }

    const bool strict = options.bus == bus_mode::strict;
    for (auto& [name, view] : subs) {
        // Connected since the earliest publish it received, at the latest.
        for (const auto* m : view.messages)
            if (auto it = by_payload.find(m->payload); it != by_payload.end())
                if (!view.connected_ms || it->second->invoke_ms < *view.connected_ms)
                    view.connected_ms = it->second->invoke_ms;
        if (auto at = h.subscribed_at.find(name); at != h.subscribed_at.end()) view.said_subscribed_ms = at->second;
        if (!view.connected_ms && view.said_subscribed_ms)
            view.connected_ms = *view.said_subscribed_ms + options.subscribe_grace_ms;

        // Which history each message was read from: a new one begins where the delivered position goes back
        // to a lower seq in another epoch (see stream_report::forks_crossed).
        std::unordered_map<const received_message*, std::size_t> history_of;
        std::size_t crossings = 0;
        const received_message* last_placed = nullptr;
        for (const auto* m : view.messages) {
            if (m->seq != 0) {
                if (last_placed && m->seq <= last_placed->seq && m->epoch != last_placed->epoch) ++crossings;
                last_placed = m;
            }
            history_of[m] = crossings;
        }
        out.forks_crossed += crossings;

        // Per publisher: what it received, in arrival order.
        std::map<std::string, std::vector<const received_message*>> got;
        for (const auto* m : view.messages) {
            auto it = by_payload.find(m->payload);
            if (it == by_payload.end() || it->second->result == outcome::fail || it->second->key != m->topic) {
                ++out.unexpected;
                violations.push_back("bus: " + name + " received " + m->topic + " \"" + m->payload +
                                     "\", which no worker published");
                continue;
            }
            got[it->second->process].push_back(m);
        }
        for (const auto& [publisher, ops] : by_publisher) {
            stream_report sr;
            sr.subscriber = name;
            sr.publisher = publisher;
            const auto& received = got[publisher];
            std::map<std::uint64_t, std::size_t> times;  // pub_seq -> count received
            std::uint64_t highest = 0;
            std::size_t history_read = 0;
            for (const auto* m : received) {
                const op_record* op = by_payload.at(m->payload);
                if (++times[op->pub_seq] > 1) {
                    ++sr.duplicates;
                    continue;
                }
                const bool moved = op->result == outcome::ok && op->epoch != 0 && m->epoch != 0 &&
                                   (m->epoch != op->epoch || m->seq != op->seq);
                if (moved) {
                    ++sr.reconciled;
                    continue;
                }
                if (op->result != outcome::ok) {
                    ++sr.indeterminate;
                    continue;
                }
                if (history_of.at(m) != history_read) {
                    history_read = history_of.at(m);
                    highest = 0;
                }
                if (op->pub_seq < highest) ++sr.out_of_order;
                highest = std::max(highest, op->pub_seq);
            }
            sr.received = times.size();
            // For "the next message of this publisher after seq n": arrivals
            // by pub_seq, with the earliest arrival of any later one.
            std::vector<std::pair<std::uint64_t, std::int64_t>> arrivals;
            for (const auto* m : received) arrivals.emplace_back(by_payload.at(m->payload)->pub_seq, m->at_ms);
            std::sort(arrivals.begin(), arrivals.end());
            std::vector<std::int64_t> earliest_from(arrivals.size() + 1, INT64_MAX);
            for (std::size_t k = arrivals.size(); k-- > 0;)
                earliest_from[k] = std::min(earliest_from[k + 1], arrivals[k].second);
            for (const op_record* op : ops) {
                if (op->result != outcome::ok || !view.connected_ms || op->invoke_ms < *view.connected_ms) continue;
                ++sr.expected;
                if (times.count(op->pub_seq)) continue;
                ++sr.missed;
                // Covered: a gap event after the publish, before the next message of this publisher.
                const auto after =
                    std::upper_bound(arrivals.begin(), arrivals.end(), std::make_pair(op->pub_seq, INT64_MAX));
                const std::int64_t next_ms = earliest_from[static_cast<std::size_t>(after - arrivals.begin())];
                for (auto g : view.gap_events)
                    if (g >= op->invoke_ms && g <= next_ms) {
                        ++sr.covered;
                        break;
                    }
            }
            out.missed += sr.missed;
            out.covered += sr.covered;
            out.duplicates += sr.duplicates;
            out.out_of_order += sr.out_of_order;
            out.reconciled += sr.reconciled;
            out.indeterminate += sr.indeterminate;
            if (strict) {
                const std::string stream = "bus: " + name + " from " + publisher + ": ";
                if (sr.missed > sr.covered)
                    violations.push_back(stream + std::to_string(sr.missed - sr.covered) + " of " +
                                         std::to_string(sr.expected) +
                                         " acknowledged messages missed with no gap event");
                if (sr.duplicates) violations.push_back(stream + std::to_string(sr.duplicates) + " duplicates");
                if (sr.out_of_order) violations.push_back(stream + std::to_string(sr.out_of_order) + " out of order");
            }
            out.streams.push_back(std::move(sr));
        }
    }
}

}  // namespace starbus::chaos
