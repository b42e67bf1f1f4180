// File: client_impl.hpp
// The state behind starbus::client (client.hpp): the session, the slots and
// callbacks of the application's calls, and the helpers that wait on them.
// Private; shared by client.cpp, client_files.cpp and file_mirror.cpp.
#pragma once

#include <starbus/client/client.hpp>

#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <zmq.hpp>

#include "probe.hpp"
#include "session.hpp"

namespace starbus {

using client_detail::clock;

struct client::impl {
    explicit impl(const client_options& options)
        : owned_context(options.context ? nullptr : std::make_unique<zmq::context_t>(1)),
          context(options.context ? *options.context : *owned_context),
          session(context, options) {}

    // Declared first: destroyed last, after every socket the session owns.
    // Empty when the application shares its own context (client_options::context).
    std::unique_ptr<zmq::context_t> owned_context;
    zmq::context_t& context;

    // How the operator exchanges (probe.hpp) reach brokers.
    [[nodiscard]] client_detail::probe_link probe() { return {context, session.options().key}; }
    client_detail::session session;

    event_handler on_event;
    // Asynchronous requests (submit(), publish_async()) not yet finished, in
    // submission order, with their completions (often empty). They are all
    // ordered, so the session hands them back finished in that same order:
    // finding one is a look at the front, with no allocation per request.
    struct async_request {
        std::uint64_t id = 0;
        completion on_done;
    };
    std::deque<async_request> async_requests;
    // Requests a synchronous call waits for, and their results once finished.
    std::unordered_set<std::uint64_t> waiting;
    std::unordered_map<std::uint64_t, get_result> results;
    // Callbacks due, in the order things happened; run by dispatch().
    std::deque<std::function<void()>> due;
    bool dispatching = false;
    // Every failure of an asynchronous request since the last flush().
    std::vector<request_outcome> async_failures;
    [[nodiscard]] std::size_t async_in_flight() const { return async_requests.size(); }

    // Moves what the session produced into result slots and due callbacks.
    // Safe at any time, also inside a callback.
    void collect() {
        // Called once per message on the hot paths: look before taking (an empty deque still allocates).
        if (session.has_events())
            for (auto& e : session.take_events())
                due.emplace_back([this, ev = std::move(e)] {
                    if (on_event) on_event(ev);
                });
        if (!session.has_finished()) return;
        for (auto& f : session.take_finished()) {
            if (auto w = waiting.find(f.id); w != waiting.end()) {
                waiting.erase(w);
                results.emplace(f.id, std::move(f.outcome));
                continue;
            }
            auto a = async_requests.begin();
            if (a == async_requests.end() || a->id != f.id)  // never expected; kept correct all the same
                a = std::find_if(async_requests.begin(), async_requests.end(),
                                 [&](const async_request& r) { return r.id == f.id; });
            if (a == async_requests.end()) continue;
            completion cb = std::move(a->on_done);
            async_requests.erase(a);
            if (!f.outcome.ok())
                async_failures.push_back(request_outcome{f.id, std::move(f.key), static_cast<result>(f.outcome)});
            if (cb) due.emplace_back([cb = std::move(cb), r = static_cast<result>(f.outcome)] { cb(r); });
        }
    }

    // Runs the due callbacks, unless one is running already (it then runs
    // them after it returns).
    void dispatch() {
        if (dispatching) return;
        dispatching = true;
        struct reset {
            bool& flag;
            ~reset() { flag = false; }
        } guard{dispatching};
        while (!due.empty()) {
            auto call = std::move(due.front());
            due.pop_front();
            call();
            collect();  // the callback may have made the client do work
        }
    }

    void service(clock::time_point until, int fd = -1, bool* fd_ready = nullptr) {
        const bool ready = session.service(until, fd);
        if (fd_ready) *fd_ready = ready;
        collect();
        dispatch();
    }

    get_result wait_for(std::uint64_t id, deadline d) {
        collect();
        for (;;) {
            if (auto it = results.find(id); it != results.end()) {
                get_result r = std::move(it->second);
                results.erase(it);
                dispatch();
                return r;
            }
            // The request's own deadline finishes it (unreachable) at the latest.
            service(d.at());
        }
    }

    // Submission of asynchronous requests: wait for room in the window first.
    void wait_for_room(deadline d) {
        while (session.window_full() && !d.passed()) service(d.at());
    }

    std::uint64_t track_async(std::uint64_t id, completion on_done) {
        async_requests.push_back(async_request{id, std::move(on_done)});
        collect();  // invalid input finishes at once
        return id;
    }

    const broker_info* find_broker(std::string_view name) const { return session.cluster().find(name); }

    std::string known_names() const {
        std::string s;
        for (const auto& b : session.cluster().brokers) s += (s.empty() ? "" : ", ") + b.name;
        return s;
    }

    client_detail::id_source ids() {
        return [this] { return session.next_request_id(); };
    }
};

}  // namespace starbus
