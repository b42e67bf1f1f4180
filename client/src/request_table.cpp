// File: request_table.cpp
// Outstanding requests, resend bookkeeping and in-order delivery (request_table.hpp).
#include "request_table.hpp"

#include <starbus/wire/codec.hpp>

#include <algorithm>
#include <bit>
#include <cassert>
#include <iterator>
#include <utility>

namespace starbus::client_detail {

namespace {
constexpr auto never = clock::time_point::max();
// The ring starts at the window (it grows only when ids spread further, e.g.
// one old request outlives many newer ones), but a huge window is not paid
// for up front.
constexpr std::size_t min_ring = 16;
constexpr std::size_t max_initial_ring = 4096;
}  // namespace

request_table::request_table(std::size_t window) : _window(std::max<std::size_t>(1, window)) {
    const std::size_t ring = std::bit_ceil(std::clamp(_window, min_ring, max_initial_ring));
    _ring.assign(ring, no_entry);
}

const request_table::entry* request_table::outstanding_entry(std::uint64_t id) const {
    if (id < _first || id > _last_id) return nullptr;
    const auto i = slot(id);
    if (i == no_entry || _entries[i].held) return nullptr;
    assert(_entries[i].request.id == id);
    return &_entries[i];
}

request_table::entry* request_table::outstanding_entry(std::uint64_t id) {
    return const_cast<entry*>(std::as_const(*this).outstanding_entry(id));
}

void request_table::grow_ring(std::uint64_t span) {
    std::vector<std::uint32_t> ring(std::bit_ceil(std::max<std::uint64_t>(span, _ring.size() * 2)), no_entry);
    for (auto id = _first; id <= _last_id; ++id) ring[id & (ring.size() - 1)] = slot(id);
    _ring.swap(ring);
}

void request_table::add(pending_request r) {
    // Ids grow with submission: id order is the order of submission, which
    // is the order requests are re-sent in after a failover.
    assert(r.id > _last_id);
    const auto id = r.id;
    // Nothing live: start afresh here, whatever ids others used meanwhile.
    if (_outstanding + _held == 0) _first = id;
    if (id - _first >= _ring.size()) grow_ring(id - _first + 1);
    _last_id = id;
    r.sent = false;
    r.resend_at = never;
    _min_deadline = std::min(_min_deadline, r.deadline);
    if (_unsent_count++ == 0) _unsent_from = id;

    std::uint32_t i;
    if (!_free.empty()) {
        i = _free.back();
        _free.pop_back();
    } else {
        assert(_entries.size() < no_entry);
        i = static_cast<std::uint32_t>(_entries.size());
        _entries.emplace_back();
    }
    _entries[i].request = std::move(r);
    _entries[i].held = false;
    _ring[id & (_ring.size() - 1)] = i;
    ++_outstanding;
}

const pending_request* request_table::find(std::uint64_t id) const {
    const entry* e = outstanding_entry(id);
    return e ? &e->request : nullptr;
}

void request_table::drop_unsent() {
    assert(_unsent_count > 0);
    if (--_unsent_count == 0) _unsent_from = _last_id + 1;
}

void request_table::vacate(std::uint64_t id) {
    auto& s = _ring[id & (_ring.size() - 1)];
    assert(s != no_entry);
    _free.push_back(s);
    s = no_entry;
    while (_first <= _last_id && slot(_first) == no_entry) ++_first;
}

finished_request request_table::finish(std::uint64_t id, entry& e, get_result outcome) {
    finished_request f;
    f.id = id;
    f.kind = e.request.kind;
    f.ordered = e.request.ordered;
    f.key = std::move(e.request.key);
    f.outcome = std::move(outcome);
    return f;
}

bool request_table::complete(std::uint64_t id, get_result outcome) {
    entry* e = outstanding_entry(id);
    if (!e) return false;
    pending_request& r = e->request;
    if (r.resend_at != never) --_scheduled_count;
    else if (!r.sent) drop_unsent();
    r.frame = std::string();  // not needed any more: free it now, not when the entry is reused
    --_outstanding;
    if (_outstanding == 0) _min_deadline = never;
    if (!r.ordered) {
        _ready.push_back(finish(id, *e, std::move(outcome)));
        vacate(id);
        return true;
    }
    e->outcome = std::move(outcome);
    e->held = true;
    ++_held;
    release_ordered();
    return true;
}

void request_table::release_ordered() {
    auto id = std::max(_release_from, _first);
    for (; id <= _last_id; ++id) {
        const auto i = slot(id);
        if (i == no_entry) continue;  // delivered (or not ours)
        entry& e = _entries[i];
        if (!e.held) {
            if (e.request.ordered) break;  // the oldest ordered request is still outstanding
            continue;                      // unordered requests do not hold anything back
        }
        _ready.push_back(finish(id, e, std::move(e.outcome)));
        e.held = false;
        --_held;
        vacate(id);
    }
    _release_from = id;
}

void request_table::mark_all_unsent(bool left_broker) {
    for (auto id = _first; id <= _last_id; ++id) {
        if (entry* e = outstanding_entry(id)) {
            if (left_broker && e->request.sent) e->request.unanswered_elsewhere = true;
            e->request.sent = false;
            // The new connection gets everything at once; a retry pause
            // belonged to the old broker.
            e->request.resend_at = never;
        }
    }
    _unsent_count = _outstanding;
    _unsent_from = _outstanding > 0 ? _first : _last_id + 1;
    _scheduled_count = 0;
}

std::vector<std::uint64_t> request_table::unsent() const {
    std::vector<std::uint64_t> ids;
    if (_unsent_count == 0) return ids;
    ids.reserve(_unsent_count);
    for (auto id = std::max(_unsent_from, _first); id <= _last_id && ids.size() < _unsent_count; ++id) {
        const entry* e = outstanding_entry(id);
        if (e && !e->request.sent && e->request.resend_at == never) ids.push_back(id);
    }
    return ids;
}

void request_table::mark_sent(std::uint64_t id) {
    entry* e = outstanding_entry(id);
    if (!e || e->request.sent || e->request.resend_at != never) return;
    e->request.sent = true;
    drop_unsent();
}

namespace {

// The command a frame of ours carries, when it has a -MANY form (PUBLISH, SET); nothing otherwise.
std::optional<command> batchable(const std::string& frame) {
    const auto c = peek_command(frame.data(), frame.size());
    if (c == command::publish_request || c == command::set_request) return c;
    return std::nullopt;
}

}  // namespace

std::size_t request_table::batch_run(std::uint64_t id, command single) {
    _run_frames.clear();
    if (!_batch_requests) return 0;
    std::size_t bytes = 0;
    for (; id <= _last_id && _run_frames.size() < max_batched; ++id) {
        const entry* e = outstanding_entry(id);
        if (!e || e->request.sent || e->request.resend_at != never) break;
        const std::string& f = e->request.frame;
        if (batchable(f) != single) break;
        if (!_run_frames.empty() && bytes + f.size() > max_batched_bytes) break;
        bytes += f.size();
        _run_frames.emplace_back(f);
    }
    return _run_frames.size();
}

std::size_t request_table::send_unsent(const std::function<bool(const std::string& frame)>& send,
                                      const std::function<bool(std::string&& frame)>& send_batch) {
    std::size_t n = 0;
    for (auto id = std::max(_unsent_from, _first); id <= _last_id && _unsent_count > 0;) {
        entry* e = outstanding_entry(id);
        if (!e || e->request.sent || e->request.resend_at != never) {
            ++id;
            continue;
        }
        const std::optional<command> single = batchable(e->request.frame);
        std::size_t run = single ? batch_run(id, *single) : 0;
        std::optional<std::string> many;
        if (run > 1) many = encode_many(*single, id, _run_frames);
        if (!many) run = 1;  // a lone request (or one without a -MANY form) goes as it is
        const bool sent = !many ? send(e->request.frame) : send_batch ? send_batch(std::move(*many)) : send(*many);
        if (!sent) {
            _unsent_from = id;  // everything before it went
            break;
        }
        for (std::size_t k = 0; k < run; ++k, ++id) {
            outstanding_entry(id)->request.sent = true;
            drop_unsent();
        }
        n += run;
    }
    return n;
}

void request_table::mark_batchable_unsent() {
    for (auto id = _first; id <= _last_id; ++id) {
        entry* e = outstanding_entry(id);
        if (!e || !e->request.sent || !batchable(e->request.frame)) continue;
        e->request.sent = false;
        if (_unsent_count++ == 0 || id < _unsent_from) _unsent_from = id;
    }
}

void request_table::schedule_resend(std::uint64_t id, clock::time_point when) {
    entry* e = outstanding_entry(id);
    if (!e) return;
    pending_request& r = e->request;
    if (r.resend_at != never) --_scheduled_count;
    else if (!r.sent) drop_unsent();
    r.sent = false;
    r.resend_at = when;
    ++_scheduled_count;
}

void request_table::extend_deadline(std::uint64_t id, clock::time_point when) {
    // _min_deadline stays a lower bound of the deadlines: moving one later keeps it true.
    if (entry* e = outstanding_entry(id)) e->request.deadline = std::max(e->request.deadline, when);
}

std::size_t request_table::release_due_resends(clock::time_point now) {
    if (_scheduled_count == 0) return 0;
    std::size_t n = 0;
    for (auto id = _first; id <= _last_id; ++id) {
        entry* e = outstanding_entry(id);
        if (!e || e->request.resend_at == never || e->request.resend_at > now) continue;
        e->request.resend_at = never;
        e->request.sent = false;
        --_scheduled_count;
        if (_unsent_count++ == 0 || id < _unsent_from) _unsent_from = id;
        ++n;
    }
    return n;
}

std::size_t request_table::expire(clock::time_point now, const std::function<result()>& make_outcome) {
    if (now < _min_deadline) return 0;
    std::vector<std::uint64_t> overdue;
    clock::time_point next = never;
    for (auto id = _first; id <= _last_id; ++id) {
        const entry* e = outstanding_entry(id);
        if (!e) continue;
        if (e->request.deadline <= now) overdue.push_back(id);
        else next = std::min(next, e->request.deadline);
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

std::size_t request_table::fail_outstanding(const result& outcome) {
    std::vector<std::uint64_t> ids;
    for (auto id = _first; id <= _last_id; ++id)
        if (outstanding_entry(id)) ids.push_back(id);
    for (auto id : ids) {
        get_result g;
        static_cast<result&>(g) = outcome;
        complete(id, std::move(g));
    }
    return ids.size();
}

std::optional<clock::time_point> request_table::next_timer() const {
    clock::time_point next = _outstanding == 0 ? never : _min_deadline;
    if (_scheduled_count > 0)
        for (auto id = _first; id <= _last_id; ++id)
            if (const entry* e = outstanding_entry(id)) next = std::min(next, e->request.resend_at);
    if (next == never) return std::nullopt;
    return next;
}

std::vector<finished_request> request_table::take_finished() {
    // Moved out, not swapped: _ready keeps its capacity, so that a window of replies is not collected into a
    // vector grown from nothing (a reallocation and a move of every finished request at each doubling).
    std::vector<finished_request> out(std::make_move_iterator(_ready.begin()), std::make_move_iterator(_ready.end()));
    _ready.clear();
    return out;
}

}  // namespace starbus::client_detail
