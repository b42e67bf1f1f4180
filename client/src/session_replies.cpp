// File: session_replies.cpp
// The session's incoming side (session.hpp): frames read from the DEALER and
// the SUB socket, decoded and routed to the part they belong to: request
// results to the request table, snapshots and deltas to the state mirror,
// bus batches to the bus subscription, chunks and fetch errors to the file
// transfers; PONGs and NOT-SERVING to the link table (link.hpp).
#include "session.hpp"

#include <algorithm>

#include <starbus/wire/codec.hpp>

namespace starbus::client_detail {
namespace {

// How many frames one service round reads from a socket before looking at
// its timers again (fairness between the sockets).
constexpr int read_batch = 4096;

}  // namespace

void session::read_requests(clock::time_point now) {
    for (int i = 0; i < read_batch && _conn.request_open(); ++i) {
        auto frame = _conn.receive_request();
        if (!frame) return;
        _times.last_rx = now;  // any traffic counts as a heartbeat
        _times.ping_unanswered_since.reset();
        if (peek_command(frame->data(), frame->size()) == command::file_chunk) {
            if (auto c = decode_chunk_view(*frame)) {
                (void)_files.on_chunk(*c);
                if (_files.downloads().has_results()) _files_moved = true;
            }
            continue;
        }
        decode_result d = decode(*frame);
        if (!d.ok()) continue;  // not ours, or newer than us: nothing sensible to answer
        const std::string from = _conn.request_broker();
        handle(now, *d.value);
        // A reply may have made us leave this broker: the rest of its queue is gone.
        if (_conn.request_broker() != from) return;
    }
}

void session::read_published() {
    for (int i = 0; i < read_batch; ++i) {
        auto p = _conn.receive_published();
        if (!p) return;
        std::string_view head(static_cast<const char*>(p->head.data()), p->head.size());
        if (head.substr(0, bus_prefix.size()) == bus_prefix) {
            if (_messages.size() >= std::max<std::size_t>(1, _options.max_queued_messages)) {
                _messages.pop_front();
                ++_dropped_messages;
            }
            bus_message m;
            m.topic = std::string(head.substr(bus_prefix.size()));
            m.payload = p->body.to_string();
            _messages.push_back(std::move(m));
            _new_message = true;
        } else if (head == state_prefix && _options.mirror_state) {
            decode_result d = decode(p->body);
            if (!d.ok()) continue;
            if (const auto* batch = std::get_if<change_batch>(&*d.value)) _mirror.on_published(*batch);
        }
    }
}

void session::handle(clock::time_point now, const message& m) {
    if (const auto* a = std::get_if<ack_reply>(&m)) {
        const std::string& server = current_broker().name;
        for (auto id : a->request_ids) {
            get_result g;
            g.position = position{a->epoch, a->seq};
            g.server = server;
            _table.complete(id, std::move(g));
        }
    } else if (const auto* v = std::get_if<value_reply>(&m)) {
        const pending_request* r = _table.find(v->request_id);
        if (!r) return;
        get_result g;
        g.server = current_name();
        if (v->found) {
            g.value = v->value;
            g.cls = v->cls;
            g.position = position{v->epoch, v->seq};
        } else {
            g.status = result_status::not_found;
            g.message = "no value for key \"" + r->key + "\"";
        }
        _table.complete(v->request_id, std::move(g));
    } else if (const auto* e = std::get_if<error_reply>(&m)) {
        handle_error(now, *e);
    } else if (const auto* p = std::get_if<pong>(&m)) {
        handle_pong(now, *p);
    } else if (const auto* part = std::get_if<snapshot_part>(&m)) {
        handle_sync_outcome(now, _mirror.on_part(*part));
    } else if (const auto* batch = std::get_if<change_batch>(&m)) {
        handle_sync_outcome(now, _mirror.on_delta(*batch));
    } else if (const auto* end = std::get_if<snapshot_end>(&m)) {
        handle_sync_outcome(now, _mirror.on_end(*end));
    } else if (const auto* list = std::get_if<file_list_reply>(&m)) {
        const pending_request* r = _table.find(list->request_id);
        if (!r || r->kind != request_kind::file_list) return;
        get_result g;
        g.server = current_name();
        g.position = position{list->epoch, list->seq};
        _listings[list->request_id] = *list;
        _table.complete(list->request_id, std::move(g));
    } else if (const auto* fetch = std::get_if<fetch_request>(&m)) {
        serve_upload(now, *fetch);
    } else if (const auto* batch = std::get_if<bus_batch>(&m)) {
        handle_bus_batch(*batch);
    }
    // Anything else (status_reply, broker-to-broker commands) is not for a client session.
}

void session::handle_pong(clock::time_point now, const pong& p) {
    if (_sub_ping_id != 0 && p.request_id == _sub_ping_id) {
        ++_sub_round_trips;  // a round trip that wait_subscribed() counts
        _sub_ping_id = 0;
    }
    const auto known = _server ? std::optional<std::uint64_t>(_server->epoch) : std::nullopt;
    const link_event e = classify_pong(_link, known, p.state, p.epoch);
    if (e != link_event::not_serving) {
        on_link(e, now, {}, {}, p.epoch);
        if (_options.mirror_state) {
            const bool was_behind = _mirror.behind_server();
            _mirror.note_server_seq(p.seq);
            // Newly behind the server: look again after half a ping interval (a publication on its way arrives
            // well within it) rather than a whole one; still behind then, the mirror resyncs. Once per episode:
            // a mirror that stays behind (a steady stream of changes) is looked at every ping interval.
            if (!was_behind && _mirror.behind_server()) _position_check_at = now + _timing.ping_interval / 2;
        }
        return;
    }
    std::string reason = current_name() + " does not serve (it is " + std::string(to_string(p.state));
    if (!p.server.empty() && p.server != current_name()) reason += "; it names " + p.server + " as the server";
    reason += ")";
    on_link(link_event::not_serving, now, reason, p.server);
}

void session::handle_error(clock::time_point now, const error_reply& e) {
    const std::string who = current_name();
    const std::string text = e.text.empty() ? std::string(to_string(e.code_value)) : e.text;
    if (e.code_value == error_code::not_authorised && e.request_id != 0 &&
        ((_mirror.sync_in_flight() && e.request_id == _mirror.sync_request_id()) ||
         (_bus.in_flight() && e.request_id == _bus.in_flight_id())))
        _events.push_back(key_refused{who, text});  // nobody waits on these requests: say it as an event
    if (_mirror.sync_in_flight() && e.request_id == _mirror.sync_request_id()) {
        _mirror.abandon_sync();
        if (e.code_value == error_code::not_serving)
            on_link(link_event::not_serving, now, who + " does not serve: " + text, e.server);
        else if (e.code_value == error_code::retry_later) _sync_retry_at = now + _walk.retry_later_pause();
        else _sync_retry_at = now + _timing.attempt_timeout;  // unexpected: do not loop on it
        return;
    }
    if (_bus.in_flight() && e.request_id == _bus.in_flight_id()) {
        _bus.abandon();
        if (e.code_value == error_code::refused) return fall_back_to_sub();
        if (e.code_value == error_code::not_serving)
            on_link(link_event::not_serving, now, who + " does not serve: " + text, e.server);
        return;
    }
    if (_files.on_error(e.request_id)) {  // a FETCH of ours: the download says why in take_failed()
        _files_moved = true;
        return;
    }
    if (e.code_value == error_code::not_serving) {
        on_link(link_event::not_serving, now, who + " does not serve: " + text, e.server);
        return;
    }
    const pending_request* r = e.request_id != 0 ? _table.find(e.request_id) : nullptr;
    if (!r) return;
    const auto sent_as = peek_command(r->frame.data(), r->frame.size());
    if (e.code_value == error_code::unknown_command &&
        (sent_as == command::publish_request || sent_as == command::set_request)) {
        // Every broker knows PUBLISH and SET: what it did not know is the PUBLISH-MANY or SET-MANY that carried
        // this one (a broker of an older release). Nothing of that frame was applied: send them again, one
        // frame each, for the rest of this session. The refusals of the other frames in flight then name
        // requests already sent again on their own: nothing more to do for them.
        if (!_table.batches_requests()) return;
        _table.batch_requests(false);
        _table.mark_batchable_unsent();
        return;
    }
    if (e.code_value == error_code::retry_later) {
        // A handover is in progress: the same broker (or its successor) serves in a moment.
        _table.schedule_resend(e.request_id, now + _walk.retry_later_pause());
        return;
    }
    get_result g;
    g.server = e.server.empty() ? who : e.server;
    g.primary = e.primary;
    if (e.code_value == error_code::config_refused && r->unanswered_elsewhere) {
        // The refusal is this broker's; the one that got the request before
        // never answered and may apply it yet: the outcome is unknown.
        g.status = result_status::unreachable;
        g.message = text + "; an earlier attempt went unanswered, so the change may still be applied when " +
                    (e.primary.empty() ? std::string("the primary") : e.primary) + " serves again";
    } else if (e.code_value == error_code::not_authorised) {
        g.status = result_status::not_authorised;
        g.message = text;
    } else if (e.code_value == error_code::config_refused || e.code_value == error_code::refused ||
               e.code_value == error_code::storage_failed) {
        g.status = result_status::refused;
        g.message = text;
        if (r->kind == request_kind::change) _events.push_back(change_refused{r->key, text, e.primary});
    } else {
        g.status = result_status::invalid;
        g.message = who + " rejected the request (" + std::string(to_string(e.code_value)) + "): " + text;
    }
    _table.complete(e.request_id, std::move(g));
}

void session::handle_sync_outcome(clock::time_point now, state_mirror::outcome o) {
    if (o != state_mirror::outcome::completed) return;  // a gap makes housekeeping start another sync
    // Ask where the server is at once rather than after a ping interval: a change it committed after the
    // snapshot and published before our new SUB's subscription reached it would otherwise be noticed only two
    // ping intervals later (handle_pong).
    _position_check_at = now;
    const position at = _mirror.last();
    _events.push_back(synchronised{at.epoch, at.seq, _mirror.last_sync_full()});
}

}  // namespace starbus::client_detail
