// File: client.cpp
// The facade (client.hpp): synchronous calls, completions and events on top
// of the session, with callbacks run outside of any processing and never
// re-entrantly.
#include "client_impl.hpp"

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

void client::submit(const change_request& c, deadline d, completion on_done) {
    _impl->wait_for_room(d);
    _impl->track_async(_impl->session.submit_change(c, d.at(), true), std::move(on_done));
    _impl->dispatch();
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

void client::publish_async(std::string_view topic, std::string_view payload, deadline d, completion on_done) {
    _impl->wait_for_room(d);
    _impl->track_async(_impl->session.submit_publish(topic, payload, d.at(), true), std::move(on_done));
    _impl->dispatch();
}

result client::flush(deadline d) {
    _impl->collect();
    _impl->dispatch();
    while (_impl->async_in_flight > 0 && !d.passed()) _impl->service(d.at());
    result r;
    if (_impl->async_in_flight > 0) {
        r.status = result_status::unreachable;
        r.message = std::to_string(_impl->async_in_flight) + " requests still unacknowledged at the deadline";
        return r;
    }
    if (_impl->first_async_failure) {
        r = *_impl->first_async_failure;
        if (_impl->async_failures > 1)
            r.message += " (and " + std::to_string(_impl->async_failures - 1) + " more failures)";
    }
    _impl->first_async_failure.reset();
    _impl->async_failures = 0;
    return r;
}

void client::subscribe(std::string_view prefix, const subscribe_options& start) {
    _impl->session.subscribe(std::string(prefix), start);
}

position client::bus_position() const { return _impl->session.bus_position(); }

void client::unsubscribe(std::string_view prefix) { _impl->session.unsubscribe(std::string(prefix)); }

std::optional<bus_message> client::next_message(std::chrono::milliseconds timeout) {
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

std::vector<broker_status> client::status_all(std::chrono::milliseconds timeout) {
    return client_detail::probe_status(_impl->context, _impl->session.cluster(), _impl->ids(),
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
        return client_detail::fetch_snapshot(_impl->context, *b, false, _impl->ids(), d.at(), silence, true);
    }
    // From the server: let the session find it, ask it, and walk on when it
    // turns out not to serve (or stops answering) meanwhile.
    _impl->session.start();
    for (;;) {
        while (!_impl->session.server() && !d.passed()) _impl->service(d.at());
        if (!_impl->session.server()) {
            dump_result r;
            r.status = result_status::unreachable;
            r.message = "no broker reachable before the deadline";
            if (!_impl->session.trouble().empty()) r.message += " (last: " + _impl->session.trouble() + ")";
            return r;
        }
        const std::string name = _impl->session.server()->name;
        const broker_info* b = _impl->find_broker(name);
        dump_result r = client_detail::fetch_snapshot(_impl->context, *b, true, _impl->ids(), d.at(), silence, false);
        if (r.ok() || r.status == result_status::invalid || d.passed()) return r;
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
    return client_detail::force_broker(_impl->context, *b, _impl->ids(), d.at(),
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

}  // namespace starbus
