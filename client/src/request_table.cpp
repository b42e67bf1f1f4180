// File: request_table.cpp
// Outstanding requests, resend bookkeeping and in-order delivery (request_table.hpp).
#include "request_table.hpp"

#include <algorithm>
#include <cassert>

namespace starbus::client_detail {

namespace {
constexpr auto never = clock::time_point::max();
}

request_table::request_table(std::size_t window) : _window(std::max<std::size_t>(1, window)) {}

void request_table::add(pending_request r) {
    // Ids grow with submission: the map's order is the order of submission,
    // which is the order requests are re-sent in after a failover.
    assert(r.id > _last_id);
    _last_id = r.id;
    if (r.ordered) _order.push_back(r.id);
    r.sent = false;
    r.resend_at = never;
    ++_unsent_count;
    _min_deadline = std::min(_min_deadline, r.deadline);
    const auto id = r.id;
    _pending.emplace(id, std::move(r));
}

const pending_request* request_table::find(std::uint64_t id) const {
    auto it = _pending.find(id);
    return it == _pending.end() ? nullptr : &it->second;
}

bool request_table::complete(std::uint64_t id, get_result outcome) {
    auto it = _pending.find(id);
    if (it == _pending.end()) return false;
    pending_request& r = it->second;
    if (r.resend_at != never) --_scheduled_count;
    else if (!r.sent) --_unsent_count;
    finished_request f;
    f.id = id;
    f.kind = r.kind;
    f.ordered = r.ordered;
    f.key = std::move(r.key);
    f.outcome = std::move(outcome);
    _pending.erase(it);
    if (_pending.empty()) _min_deadline = never;
    if (!f.ordered) {
        _ready.push_back(std::move(f));
        return true;
    }
    _held.emplace(id, std::move(f));
    release_ordered();
    return true;
}

void request_table::release_ordered() {
    while (!_order.empty()) {
        auto it = _held.find(_order.front());
        if (it == _held.end()) return;  // the oldest ordered request is still outstanding
        _ready.push_back(std::move(it->second));
        _held.erase(it);
        _order.pop_front();
    }
}

void request_table::mark_all_unsent() {
    for (auto& [id, r] : _pending) {
        r.sent = false;
        // The new connection gets everything at once; a retry pause belonged
        // to the old broker.
        r.resend_at = never;
    }
    _unsent_count = _pending.size();
    _scheduled_count = 0;
}

std::vector<std::uint64_t> request_table::unsent() const {
    std::vector<std::uint64_t> ids;
    if (_unsent_count == 0) return ids;
    ids.reserve(_unsent_count);
    for (const auto& [id, r] : _pending)
        if (!r.sent && r.resend_at == never) ids.push_back(id);
    return ids;
}

void request_table::mark_sent(std::uint64_t id) {
    auto it = _pending.find(id);
    if (it == _pending.end() || it->second.sent || it->second.resend_at != never) return;
    it->second.sent = true;
    --_unsent_count;
}

void request_table::schedule_resend(std::uint64_t id, clock::time_point when) {
    auto it = _pending.find(id);
    if (it == _pending.end()) return;
    pending_request& r = it->second;
    if (r.resend_at != never) --_scheduled_count;
    else if (!r.sent) --_unsent_count;
    r.sent = false;
    r.resend_at = when;
    ++_scheduled_count;
}

std::size_t request_table::release_due_resends(clock::time_point now) {
    if (_scheduled_count == 0) return 0;
    std::size_t n = 0;
    for (auto& [id, r] : _pending) {
        if (r.resend_at != never && r.resend_at <= now) {
            r.resend_at = never;
            r.sent = false;
            --_scheduled_count;
            ++_unsent_count;
            ++n;
        }
    }
    return n;
}

std::size_t request_table::expire(clock::time_point now, const std::function<result()>& make_outcome) {
    if (now < _min_deadline) return 0;
    std::vector<std::uint64_t> overdue;
    clock::time_point next = never;
    for (const auto& [id, r] : _pending) {
        if (r.deadline <= now) overdue.push_back(id);
        else next = std::min(next, r.deadline);
    }
    _min_deadline = next;
    if (overdue.empty()) return 0;
    const result outcome = make_outcome();
    for (auto id : overdue) {
        get_result g;
        static_cast<result&>(g) = outcome;
        complete(id, std::move(g));
    }
    return overdue.size();
}

std::optional<clock::time_point> request_table::next_timer() const {
    clock::time_point next = _pending.empty() ? never : _min_deadline;
    if (_scheduled_count > 0)
        for (const auto& [id, r] : _pending) next = std::min(next, r.resend_at);
    if (next == never) return std::nullopt;
    return next;
}

std::vector<finished_request> request_table::take_finished() {
    std::vector<finished_request> out;
    out.swap(_ready);
    return out;
}

}  // namespace starbus::client_detail
