// File: client.cpp
// The facade (client.hpp): synchronous calls, completions and events on top
// of the session, with callbacks run outside of any processing and never
// re-entrantly.
#include "client_impl.hpp"

#include <algorithm>

namespace starbus {

client::client(client_options options) : _impl(std::make_unique<impl>(options)) {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

void client::on_event(event_handler handler) { _impl->on_event = std::move(handler); }

result client::set(std::string_view key, std::string_view value, change_class cls, deadline d) {
    return apply(change_request{change_op::put, cls, std::string(key), std::string(value)}, d);
}

result client::erase(std::string_view key, change_class cls, deadline d) {
    return apply(change_request{change_op::erase, cls, std::string(key), {}}, d);
}

result client::apply(const change_request& c, deadline d) {
    const auto id = _impl->session.submit_change(c, d.at(), false);
    _impl->waiting.insert(id);
    return _impl->wait_for(id, d);
}

result client::set_many(const std::vector<change_request>& changes, deadline d, const indexed_completion& on_result) {
    // Results are taken from the slots of synchronous calls (not from the
    // due callbacks), so that this works inside a callback too.
    std::optional<result> first_failure;
    std::vector<std::uint64_t> ids;
    ids.reserve(changes.size());
    std::size_t delivered = 0;
    auto deliver_ready = [&] {
        _impl->collect();
        while (delivered < ids.size()) {
            auto it = _impl->results.find(ids[delivered]);
            if (it == _impl->results.end()) return;
            const result r = std::move(it->second);
            _impl->results.erase(it);
            if (!r.ok() && !first_failure) {
                first_failure = r;
                first_failure->message =
                    "change " + std::to_string(delivered) + " (\"" + changes[delivered].key + "\"): " + r.message;
            }
            if (on_result) on_result(delivered, r);
            ++delivered;
        }
    };
    for (const auto& c : changes) {
        while (_impl->session.window_full() && !d.passed()) {
            _impl->service(d.at());
            deliver_ready();
        }
        const auto id = _impl->session.submit_change(c, d.at(), true);
        _impl->waiting.insert(id);
        ids.push_back(id);
        deliver_ready();
    }
    // Every request finishes by its deadline at the latest.
    while (delivered < ids.size()) {
        _impl->service(d.at());
        deliver_ready();
    }
    return first_failure ? *first_failure : result{};
}

batch_result client::apply_many(std::span<const change_view> changes, deadline d, std::size_t window) {
    // Results are taken from the slots of synchronous calls, as in set_many().
    batch_result out;
    out.results.reserve(changes.size());
    std::vector<std::uint64_t> ids;
    ids.reserve(changes.size());
    auto take_ready = [&] {
        _impl->collect();
        while (out.results.size() < ids.size()) {
            auto it = _impl->results.find(ids[out.results.size()]);
            if (it == _impl->results.end()) return;
            out.results.push_back(std::move(it->second));
            _impl->results.erase(it);
        }
    };
    const auto full = [&] {
        return _impl->session.window_full() || (window > 0 && _impl->session.in_flight() >= window);
    };
    for (const auto& c : changes) {
        while (full() && !d.passed()) {
            _impl->service(d.at());
            take_ready();
        }
        const auto id = _impl->session.submit_change(c, d.at(), true);
        _impl->waiting.insert(id);
        ids.push_back(id);
        take_ready();
    }
    // Every request finishes by its deadline at the latest.
    while (out.results.size() < ids.size()) {
        _impl->service(d.at());
        take_ready();
    }
    _impl->dispatch();
    return out;
}

std::uint64_t client::submit(const change_request& c, deadline d, completion on_done) {
    _impl->wait_for_room(d);
    const auto id = _impl->track_async(_impl->session.submit_change(c, d.at(), true), std::move(on_done));
    _impl->dispatch();
    return id;
}

get_result client::get(std::string_view key, deadline d) {
    const auto id = _impl->session.submit_get(key, d.at());
    _impl->waiting.insert(id);
    return _impl->wait_for(id, d);
}

result client::publish(std::string_view topic, std::string_view payload, deadline d) {
    const auto id = _impl->session.submit_publish(topic, payload, d.at(), false);
    _impl->waiting.insert(id);
    return _impl->wait_for(id, d);
}

std::uint64_t client::publish_async(std::string_view topic, std::string_view payload, deadline d,
                                   completion on_done) {
    _impl->wait_for_room(d);
    const auto id =
        _impl->track_async(_impl->session.submit_publish(topic, payload, d.at(), true), std::move(on_done));
    _impl->dispatch();
    return id;
}

result client::flush(deadline d) { return flush_outcomes(d).summary; }

flush_result client::flush_outcomes(deadline d) {
    _impl->collect();
    _impl->dispatch();
    while (_impl->async_in_flight() > 0 && !d.passed()) _impl->service(d.at());
    flush_result out;
    if (_impl->async_in_flight() > 0) {
        // The failures so far stay for the next flush, which sees these requests finish.
        out.outstanding = _impl->async_in_flight();
        out.summary.status = result_status::unreachable;
        out.summary.message = std::to_string(_impl->async_in_flight()) + " requests still unacknowledged at the deadline";
        return out;
    }
    out.failures = std::move(_impl->async_failures);
    _impl->async_failures.clear();
    if (!out.failures.empty()) {
        out.summary = out.failures.front().outcome;
        if (out.failures.size() > 1)
            out.summary.message += " (and " + std::to_string(out.failures.size() - 1) + " more failures)";
    }
    return out;
}

void client::subscribe(std::string_view prefix, const subscribe_options& start) {
    _impl->session.subscribe(std::string(prefix), start);
}

position client::bus_position() const { return _impl->session.bus_position(); }

void client::unsubscribe(std::string_view prefix) { _impl->session.unsubscribe(std::string(prefix)); }

std::optional<bus_message> client::next_message(std::chrono::milliseconds timeout) {
    if (auto m = _impl->session.pop_message()) {  // the common case under load: no clock read
        _impl->collect();
        _impl->dispatch();
        return m;
    }
    const auto until = clock::now() + timeout;
    for (;;) {
        if (auto m = _impl->session.pop_message()) {
            _impl->collect();
            _impl->dispatch();
            return m;
        }
        if (clock::now() >= until) {
            _impl->service(until);  // one look at the sockets even for timeout 0
            return _impl->session.pop_message();
        }
        _impl->service(until);
    }
}

std::vector<bus_message> client::next_messages(std::size_t max, std::chrono::milliseconds timeout) {
    std::vector<bus_message> out;
    if (max == 0) return out;
    if (!_impl->session.has_message()) {
        if (auto first = next_message(timeout)) out.push_back(std::move(*first));
        else return out;
    }
    while (out.size() < max)
        if (auto m = _impl->session.pop_message()) out.push_back(std::move(*m));
        else break;
    return out;
}

bool client::wait_subscribed(deadline d) {
    for (;;) {
        if (_impl->session.subscriptions_in_place()) return true;
        if (d.passed()) return false;
        // Short slices: the SUB's handshake is learnt from its monitor, which the session does not wait on.
        _impl->service(std::min(d.at(), clock::now() + std::chrono::milliseconds(5)));
    }
}

std::uint64_t client::dropped_messages() const { return _impl->session.dropped_messages(); }

const kv_state& client::mirror() const { return _impl->session.mirror().state(); }

bool client::synchronised() const {
    return _impl->session.options().mirror_state && _impl->session.mirror().synchronised();
}

bool client::wait_synchronised(deadline d) {
    if (!_impl->session.options().mirror_state) return false;
    while (!synchronised() && !d.passed()) _impl->service(d.at());
    return synchronised();
}

result client::wait_serving(deadline d) {
    _impl->session.start();
    while (!_impl->session.server() && _impl->session.key_refusal().empty() && !d.passed()) _impl->service(d.at());
    result r;
    if (const auto& s = _impl->session.server()) {
        r.server = s->name;
        return r;
    }
    if (!_impl->session.key_refusal().empty()) {
        r.status = result_status::not_authorised;
        r.message = _impl->session.key_refusal();
        return r;
    }
    r.status = result_status::unreachable;
    r.message = "no broker served before the deadline";
    if (!_impl->session.trouble().empty()) r.message += " (last: " + _impl->session.trouble() + ")";
    return r;
}

result client::wait_replicated(std::size_t replicas, deadline d) {
    result r = wait_serving(d);
    // How far it got: the most synchronised replicas any one look saw (a last look cut short by the
    // deadline would say less).
    std::string progress = "no serving broker";
    std::size_t best = 0;
    while (r.ok()) {
        const std::string server = _impl->session.server() ? _impl->session.server()->name : r.server;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d.at() - clock::now());
        const auto attempt = _impl->session.options().effective_attempt_timeout();
        std::size_t synchronised = 0;
        for (const auto& b : status_all(std::clamp(left, std::chrono::milliseconds(1), attempt)))
            if (b.reachable && b.name != server && b.server == server && b.state == broker_state::passive)
                ++synchronised;
        if (synchronised >= replicas) {
            r.server = server;
            return r;
        }
        if (synchronised >= best) {
            best = synchronised;
            progress = std::to_string(synchronised) + " of the " + std::to_string(replicas) +
                       " synchronised replicas wanted (server " + server + ")";
        }
        if (d.passed()) break;
        _impl->service(std::min(d.at(), clock::now() + std::chrono::milliseconds(50)));
        r = wait_serving(d);
    }
    result out;
    out.status = result_status::unreachable;
    out.message = "the cluster had at best " + progress + " before the deadline" +
                  (r.ok() ? std::string{} : ": " + r.message);
    return out;
}

std::vector<broker_status> client::status_all(std::chrono::milliseconds timeout) {
    return client_detail::probe_status(_impl->probe(), _impl->session.cluster(), _impl->ids(),
                                       clock::now() + timeout);
}

dump_result client::dump(deadline d, const std::optional<std::string>& from_broker) {
    const auto silence = _impl->session.options().effective_attempt_timeout();
    if (from_broker) {
        const broker_info* b = _impl->find_broker(*from_broker);
        if (!b) {
            dump_result r;
            r.status = result_status::invalid;
            r.message = "no broker named \"" + *from_broker + "\" in the cluster file (known: " +
                        _impl->known_names() + ")";
            return r;
        }
        return client_detail::fetch_snapshot(_impl->probe(), *b, false, _impl->ids(), d.at(), silence, true);
    }
    // From the server: let the session find it, ask it, and walk on when it
    // turns out not to serve (or stops answering) meanwhile.
    _impl->session.start();
    for (;;) {
        while (!_impl->session.server() && _impl->session.key_refusal().empty() && !d.passed())
            _impl->service(d.at());
        if (!_impl->session.server() && !_impl->session.key_refusal().empty()) {
            dump_result r;
            r.status = result_status::not_authorised;
            r.message = _impl->session.key_refusal();
            return r;
        }
        if (!_impl->session.server()) {
            dump_result r;
            r.status = result_status::unreachable;
            r.message = "no broker reachable before the deadline";
            if (!_impl->session.trouble().empty()) r.message += " (last: " + _impl->session.trouble() + ")";
            return r;
        }
        const std::string name = _impl->session.server()->name;
        const broker_info* b = _impl->find_broker(name);
        dump_result r = client_detail::fetch_snapshot(_impl->probe(), *b, true, _impl->ids(), d.at(), silence, false);
        if (r.ok() || r.status == result_status::invalid || r.status == result_status::not_authorised || d.passed())
            return r;
        _impl->session.distrust_server(r.message);
    }
}

result client::force(std::string_view name, deadline d) {
    const broker_info* b = _impl->find_broker(name);
    if (!b) {
        result r;
        r.status = result_status::invalid;
        r.message = "no broker named \"" + std::string(name) + "\" in the cluster file (known: " +
                    _impl->known_names() + ")";
        return r;
    }
    return client_detail::force_broker(_impl->probe(), *b, _impl->ids(), d.at(),
                                       _impl->session.options().effective_attempt_timeout());
}

bool client::poll(std::chrono::milliseconds timeout, int watch_fd) {
    bool ready = false;
    _impl->service(clock::now() + timeout, watch_fd, &ready);
    return ready;
}

std::optional<server_info> client::server() const { return _impl->session.server(); }

std::uint64_t client::client_id() const { return _impl->session.client_id(); }

std::size_t client::in_flight() const { return _impl->session.in_flight(); }

std::string client::last_trouble() const { return _impl->session.trouble(); }

const cluster_config& client::cluster() const { return _impl->session.cluster(); }

const client_options& client::options() const { return _impl->session.options(); }

}  // namespace starbus
