// File: bus_service.cpp
// The serving side of the lossless bus (docs/protocol.md "The bus"): a
// subscriber asks for the acknowledged messages after its position
// (BUS-FETCH) and gets them from the bus log in log order (BUS-BATCH), or,
// when there are none yet, waits (a long poll) until one is committed. The
// subscriber keeps its position, so a failover costs it nothing that is
// still retained; what retention dropped is reported as a gap. Raw PUB
// subscribers of the publish port get committed messages too.
#include "bus_service.hpp"

#include <starbus/wire/codec.hpp>

#include "change_batches.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace starbus {
namespace {

// Fetches held waiting for a message; beyond, a fetch is answered at once, even empty.
constexpr std::size_t max_parked_fetches = 10000;
// One batch: at most this many messages and about this many bytes.
constexpr std::uint32_t max_batch_messages = 10000;
constexpr std::size_t max_batch_bytes = 4u << 20;
// The longest a fetch is held.
constexpr std::chrono::milliseconds max_fetch_wait{30000};

bool matches(const std::vector<std::string>& prefixes, std::string_view topic) {
    if (prefixes.empty()) return true;
    return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return topic.starts_with(p); });
}

}  // namespace

bus_service::bus_service(const local_replica& replica, broker_sink& out) : _replica(replica), _out(out) {}

void bus_service::on_subscription(std::string_view frame) {
    // The publish socket is an XPUB so that the broker knows whether anybody mirrors the state: without a
    // subscriber to "K" (or to everything), committed changes are not encoded for it at all. libzmq reports
    // only the first subscription to a prefix and the last unsubscription from it.
    if (frame.empty()) return;
    const char kind = frame.front();
    const std::string_view prefix = frame.substr(1);
    // Raw subscribers of bus topics ("B..." or everything): committed bus messages are sent on PUB only then.
    if (prefix.empty() || prefix.front() == bus_prefix.front()) {
        if (kind == 1) ++_bus_subscriptions;
        else if (kind == 0 && _bus_subscriptions > 0) --_bus_subscriptions;
    }
    if (!state_prefix.starts_with(prefix)) return;
    if (kind == 1) _state_subscriptions.insert(std::string(prefix));
    else if (kind == 0) _state_subscriptions.erase(std::string(prefix));
}

std::optional<bus_batch_view> bus_service::answer(const bus_fetch_request& r, std::uint64_t commit_seq,
                                                  bool even_empty) const {
    const kv_state& state = _replica.state();
    const change_history& history = _replica.history();
    const std::uint64_t commit = std::min(commit_seq, _replica.last().seq);
    const auto at = [&](std::uint64_t seq) {
        return history.position_of(seq).value_or(position{_replica.last().epoch, seq});
    };
    bus_batch_view b;
    b.request_id = r.request_id;
    std::uint64_t cursor = 0;
    const auto gap = [&](std::uint64_t from, std::uint64_t through) {
        if (through < from) return;
        b.gap_from = b.gap_through == 0 ? from : std::min(b.gap_from, from);
        b.gap_through = std::max(b.gap_through, through);
    };
    switch (r.start) {
        case bus_start::latest: cursor = commit; break;
        case bus_start::oldest: cursor = 0; break;
        case bus_start::after: {
            cursor = r.after_seq;
            const position asked{r.after_epoch, r.after_seq};
            if (state.holds(asked)) break;
            // A position this server's history does not hold: the subscriber read a history that parted from
            // this one (a partition). It resumes at the fork: messages it saw after it come again (replayed by
            // the reconciler, or never there), which its client recognises by their ids. One it cannot place
            // at all starts over from the oldest message retained, with a gap for what retention dropped.
            if (auto fork = state.last_seq_of(asked.epoch)) cursor = std::min(cursor, *fork);
            else cursor = 0;
            break;
        }
    }
    if (cursor < state.bus_dropped_through() && (r.start != bus_start::oldest || cursor > 0)) {
        gap(cursor + 1, state.bus_dropped_through());
        cursor = state.bus_dropped_through();
    }
    const auto& log = state.bus_log();
    auto it = std::upper_bound(log.begin(), log.end(), cursor,
                               [](std::uint64_t s, const change& c) { return s < c.seq; });
    const std::uint32_t limit = std::clamp<std::uint32_t>(r.max_messages, 1, max_batch_messages);
    std::size_t bytes = 0;
    bool full = false;
    for (; it != log.end() && it->seq <= commit; ++it) {
        if (!matches(r.prefixes, it->key)) continue;
        b.messages.push_back(&*it);
        bytes += it->key.size() + it->value.size() + 64;
        if (b.messages.size() >= limit || bytes >= max_batch_bytes) {
            full = true;
            break;
        }
    }
    // Next: after the last message sent when the batch is full, else after everything committed (so that a
    // subscriber of a quiet topic does not scan the same messages again).
    const position next = full ? b.messages.back()->pos() : at(std::max(cursor, commit));
    b.next_epoch = next.epoch;
    b.next_seq = next.seq;
    if (b.messages.empty() && b.gap_through == 0 && !even_empty) return std::nullopt;
    return b;
}

void bus_service::on_fetch(const std::string& identity, const bus_fetch_request& r, std::uint64_t commit_seq,
                           steady_time now) {
    if (auto b = answer(r, commit_seq, r.wait_ms == 0)) return _out.reply_frame(identity, encode_frame(*b));
    // Nothing yet: hold it until a message is committed or its wait ends. A client re-asking replaces its fetch.
    // "Latest" means latest now: held, it waits for what follows the present commit point.
    bus_fetch_request held = r;
    if (held.start == bus_start::latest) {
        const std::uint64_t commit = std::min(commit_seq, _replica.last().seq);
        const position at = _replica.history().position_of(commit).value_or(position{_replica.last().epoch, commit});
        held.start = bus_start::after;
        held.after_epoch = at.epoch;
        held.after_seq = at.seq;
    }
    std::erase_if(_parked, [&](const parked_fetch& p) { return p.identity == identity; });
    if (_parked.size() >= max_parked_fetches) {
        _out.reply_frame(identity, encode_frame(*answer(held, commit_seq, true)));
        return;
    }
    const auto wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(r.wait_ms), max_fetch_wait);
    _parked.push_back(parked_fetch{identity, std::move(held), now + wait});
}

void bus_service::wake(std::uint64_t commit_seq, steady_time now, bool all) {
    for (auto it = _parked.begin(); it != _parked.end();) {
        auto b = answer(it->request, commit_seq, all || now >= it->until);
        if (!b) {
            ++it;
            continue;
        }
        _out.reply_frame(it->identity, encode_frame(*b));
        it = _parked.erase(it);
    }
}

void bus_service::release() {
    for (const auto& p : _parked) _out.reply_not_serving(p.identity, p.request.request_id);
    _parked.clear();
}

void bus_service::forward(std::string_view topic, std::string_view payload) {
    // Reused: no allocation per message. Not assign().append(): GCC 12 warns falsely (-Wrestrict).
    _topic_frame.resize(bus_prefix.size() + topic.size());
    std::copy(bus_prefix.begin(), bus_prefix.end(), _topic_frame.begin());
    std::copy(topic.begin(), topic.end(), _topic_frame.begin() + static_cast<std::ptrdiff_t>(bus_prefix.size()));
    _out.publish(_topic_frame, payload);
}

void bus_service::on_committed(std::vector<change> committed, std::uint64_t commit_seq, steady_time now) {
    // Clients that mirror the state see only what is acknowledged; with no such client, nothing is encoded.
    // Bus messages go to subscribers (their fetches, raw PUB subscribers); a mirror gets only their place in
    // the sequence (it keeps no bus messages, but must see every seq to notice a gap).
    std::vector<change> for_mirrors;
    std::vector<const change*> published;  // point into `committed`, which outlives them
    const bool to_mirrors = mirrored();
    bool new_messages = false;
    for (change& c : committed) {
        if (c.op == change_op::publish) {
            new_messages = true;
            if (_bus_subscriptions > 0) published.push_back(&c);
            if (to_mirrors) {
                // Its place only: no copy of the topic and payload (a mirror ignores bus messages).
                change placeholder;
                placeholder.epoch = c.epoch;
                placeholder.seq = c.seq;
                placeholder.op = change_op::publish;
                placeholder.key = std::string(1, '-');
                for_mirrors.push_back(std::move(placeholder));
            }
        } else if (to_mirrors) {
            for_mirrors.push_back(std::move(c));
        }
    }
    publish_messages(published);
    if (new_messages && !_parked.empty()) wake(commit_seq, now, false);
    for_each_chunk(for_mirrors, chunk_bytes, [&](std::vector<change> piece) {
        _out.publish(state_prefix, encode_frame(change_batch{std::move(piece), commit_seq, 0}));
    });
}

void bus_service::publish_messages(const std::vector<const change*>& messages) {
    std::string topic_frame;
    for (const change* m : messages) {
        const change& c = *m;
        topic_frame.resize(bus_prefix.size() + c.key.size());  // not assign().append(): GCC 12 warns falsely
        std::copy(bus_prefix.begin(), bus_prefix.end(), topic_frame.begin());
        std::copy(c.key.begin(), c.key.end(), topic_frame.begin() + static_cast<std::ptrdiff_t>(bus_prefix.size()));
        _out.publish(topic_frame, c.value);
    }
}

}  // namespace starbus
