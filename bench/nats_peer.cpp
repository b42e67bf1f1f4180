// File: nats_peer.cpp
// The NATS measures of starbus-bench-peers (nats_peer.hpp).
#include "nats_peer.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "nats_wire.hpp"

namespace starbus::bench {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// 1 publisher -> server -> `subs` subscribers; delivered msgs/s over all of
// them: messages received / (first publish -> last message received).
double nats_pubsub(const endpoint& ep, std::size_t subs, std::size_t messages, const peer_workload& w,
                   std::size_t& received_out) {
    const std::string subject = "bench.core";
    std::vector<std::unique_ptr<nats::connection>> sub_conns;
    for (std::size_t i = 0; i < subs; ++i) {
        sub_conns.push_back(std::make_unique<nats::connection>(ep.host, ep.port, 5s));
        sub_conns.back()->subscribe(subject, "1");
        // The PONG says the server registered the subscription.
        if (!sub_conns.back()->ping(5s)) throw std::runtime_error("nats: no PONG after SUB");
    }
    nats::connection pub(ep.host, ep.port, 5s);
    const std::string payload = make_value('n', w.payload);
    const auto deadline = steady::now() + std::chrono::seconds(w.max_seconds);
    std::atomic<bool> published{false};
    std::vector<std::size_t> got(subs, 0);
    std::vector<steady::time_point> last(subs);
    std::vector<std::string> failures(subs);
    const auto start = steady::now();
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < subs; ++i) {
        threads.emplace_back([&, i] {
            try {
                auto idle_since = steady::now();
                while (got[i] < messages && steady::now() < deadline) {
                    const std::size_t n = sub_conns[i]->read_some(100ms, {});
                    if (n > 0) {
                        got[i] += n;
                        last[i] = steady::now();
                        idle_since = last[i];
                    } else if (published && steady::now() - idle_since > 2s) {
                        break;  // the rest was lost (a slow consumer): the rate counts what arrived
                    }
                }
            } catch (const std::exception& e) {
                failures[i] = e.what();  // e.g. disconnected as a slow consumer
            }
        });
    }
    try {
        for (std::size_t sent = 0; sent < messages;) {
            for (std::size_t b = 0; b < 1000 && sent < messages; ++b, ++sent) pub.publish(subject, {}, payload);
            pub.flush();
        }
    } catch (...) {
        published = true;
        for (auto& t : threads) t.join();
        throw;
    }
    published = true;
    for (auto& t : threads) t.join();
    std::size_t total = 0;
    steady::time_point end = start;
    for (std::size_t i = 0; i < subs; ++i) {
        total += got[i];
        end = std::max(end, last[i]);
    }
    received_out = total;
    for (const auto& f : failures)
        if (!f.empty()) std::cout << "    (a subscriber stopped early: " << f << ")\n";
    if (total == 0) throw std::runtime_error("nats: no message reached a subscriber");
    return static_cast<double>(total) / std::chrono::duration<double>(end - start).count();
}

// Round trips of PING/PONG one at a time: p50 in microseconds.
double nats_ping_p50(const endpoint& ep, const peer_workload& w) {
    nats::connection c(ep.host, ep.port, 5s);
    std::vector<double> us;
    for (std::size_t i = 0; i < w.latency_requests; ++i) {
        const auto t0 = steady::now();
        if (!c.ping(5s)) throw std::runtime_error("nats: no PONG within 5 s");
        us.push_back(micros(steady::now() - t0));
    }
    return percentile(us, 50);
}

// Creates a file-backed stream of `replicas` on `subject`, retrying until
// the cluster has a JetStream leader (or `timeout`).
void create_stream(const endpoint& ep, const std::string& name, const std::string& subject, int replicas,
                   std::chrono::milliseconds timeout) {
    nats::connection c(ep.host, ep.port, 5s);
    const std::string inbox = "_INBOX.create." + name;
    c.subscribe(inbox, "9");
    const std::string config = R"({"name":")" + name + R"(","subjects":[")" + subject +
                               R"("],"retention":"limits","storage":"file","discard":"old","num_replicas":)" +
                               std::to_string(replicas) + "}";
    const auto deadline = steady::now() + timeout;
    std::string last_answer = "no answer";
    while (steady::now() < deadline) {
        c.publish("$JS.API.STREAM.CREATE." + name, inbox, config);
        c.flush();
        std::string answer;
        const auto wait_until = std::min(deadline, steady::now() + 2s);
        while (answer.empty() && steady::now() < wait_until)
            c.read_some(100ms, [&](const nats::message& m) { answer = std::string(m.payload); });
        if (!answer.empty()) {
            if (!nats::is_error_reply(answer)) return;
            if (answer.find("already in use") != std::string::npos) return;
            last_answer = answer;
        }
        std::this_thread::sleep_for(250ms);  // JetStream not ready yet (no meta leader): ask again
    }
    throw std::runtime_error("jetstream: cannot create stream " + name + " (R" + std::to_string(replicas) +
                             ") within " + std::to_string(timeout.count()) + " ms; last answer: " + last_answer);
}

// Publishes with a reply inbox; every reply is a PubAck (or an error).
jetstream_figures jetstream_publish(const endpoint& ep, const std::string& subject, const peer_workload& w) {
    nats::connection c(ep.host, ep.port, 5s);
    c.subscribe("_INBOX.ack.*", "2");
    if (!c.ping(5s)) throw std::runtime_error("nats: no PONG after SUB");
    const std::string payload = make_value('j', w.payload);
    std::size_t acked = 0, errors = 0;
    std::string first_error;
    const auto on_ack = [&](const nats::message& m) {
        ++acked;
        if (nats::is_error_reply(m.payload)) {
            if (errors++ == 0) first_error = std::string(m.payload);
        }
    };
    std::string reply;
    const auto reply_for = [&](std::size_t n) -> const std::string& {
        reply = "_INBOX.ack." + std::to_string(n);  // one token per publish, as clients do
        return reply;
    };
    jetstream_figures f;
    // Window: keep up to w.window publishes unacknowledged.
    const auto deadline = steady::now() + std::chrono::seconds(w.max_seconds);
    const auto start = steady::now();
    std::size_t sent = 0;
    while (acked < w.publishes) {
        check_deadline(deadline, "jetstream window");
        while (sent < w.publishes && sent - acked < w.window) c.publish(subject, reply_for(sent++), payload);
        c.flush();
        c.read_some(100ms, on_ack);
    }
    f.rate = static_cast<double>(w.publishes) / seconds_since(start);
    // One at a time.
    std::vector<double> us;
    for (std::size_t i = 0; i < w.latency_requests; ++i) {
        const std::size_t want = acked + 1;
        const auto t0 = steady::now();
        c.publish(subject, reply_for(sent++), payload);
        c.flush();
        while (acked < want) {
            check_deadline(deadline, "jetstream one at a time");
            c.read_some(100ms, on_ack);
        }
        us.push_back(micros(steady::now() - t0));
    }
    f.p50 = percentile(us, 50);
    if (errors > 0)
        throw std::runtime_error("jetstream: " + std::to_string(errors) + " publishes refused, first: " + first_error);
    return f;
}

}  // namespace starbus::bench
