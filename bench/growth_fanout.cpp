// File: growth_fanout.cpp
// One publisher, K subscribers: a run of the bus curve (growth_fanout.hpp).
// Each run first publishes warm-up messages until every subscriber has one
// (every subscription is in place), then times the measured messages from the
// first publish to the last one received by any subscriber. PUB/SUB drops at
// the high-water mark: the rate counts what was received.
#include "growth_fanout.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include <starbus/wire/codec.hpp>

#include "bench_support.hpp"

namespace starbus::bench {
namespace {

using std::chrono::milliseconds;

const std::string topic = "growth";

// K SUB sockets read by one thread: counts the measured messages ('m') per
// socket, and which sockets have seen a warm-up message ('w').
class subscriber_set {
  public:
    subscriber_set(std::size_t k, const std::string& endpoint, int hwm) : _ctx(1), _warm(k, false), _counts(k, 0) {
        const std::string prefix = std::string(bus_prefix) + topic;
        for (std::size_t i = 0; i < k; ++i) {
            _subs.emplace_back(_ctx, zmq::socket_type::sub);
            zmq::socket_t& s = _subs.back();
            s.set(zmq::sockopt::linger, 0);
            s.set(zmq::sockopt::rcvhwm, hwm);
            s.set(zmq::sockopt::subscribe, prefix);
            s.connect(endpoint);
        }
    }

    // Receives what is there (waiting up to `timeout` when nothing is); returns the measured messages taken.
    std::size_t drain(milliseconds timeout) {
        std::vector<zmq::pollitem_t> items;
        items.reserve(_subs.size());
        for (auto& s : _subs) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        if (zmq::poll(items.data(), items.size(), timeout) <= 0) return 0;
        std::size_t measured = 0;
        for (std::size_t i = 0; i < _subs.size(); ++i) {
            // A bounded burst per socket, so that every subscriber is served in turn.
            for (int n = 0; n < 1024; ++n) {
                zmq::message_t head, body;
                if (!_subs[i].recv(head, zmq::recv_flags::dontwait)) break;
                if (!head.more() || !_subs[i].recv(body, zmq::recv_flags::dontwait) || body.size() == 0) continue;
                const char tag = *static_cast<const char*>(body.data());
                if (tag == 'w') _warm[i] = true;
                else if (tag == 'm') ++_counts[i], ++measured;
            }
        }
        return measured;
    }

    [[nodiscard]] bool all_warm() const { return std::all_of(_warm.begin(), _warm.end(), [](bool w) { return w; }); }
    [[nodiscard]] bool all_have(std::size_t n) const {
        return std::all_of(_counts.begin(), _counts.end(), [&](std::size_t c) { return c >= n; });
    }

  private:
    zmq::context_t _ctx;
    std::vector<zmq::socket_t> _subs;
    std::vector<bool> _warm;
    std::vector<std::size_t> _counts;
};

// The publisher's side of a run.
struct publisher_fns {
    std::function<bool(char tag)> send_one;  // false: gave up
    std::function<std::string()> flush;      // "" when fine (may be empty)
    std::function<void(milliseconds)> idle;  // wait a little during warm-up
};

fanout_outcome run_fanout(const fanout_settings& s, std::size_t k, const std::string& sub_endpoint,
                          const publisher_fns& pub) {
    subscriber_set subs(k, sub_endpoint, s.hwm);
    const std::size_t n = fanout_messages(s, k);
    fanout_outcome out;
    const auto hard_deadline = clock::now() + std::chrono::seconds(s.max_seconds);
    // Warm-up in this thread: publish until every subscriber has a warm-up message.
    const auto warm_until = clock::now() + std::chrono::seconds(20);
    while (!subs.all_warm() && clock::now() < warm_until) {
        if (!pub.send_one('w')) break;
        pub.idle(milliseconds(5));
        static_cast<void>(subs.drain(milliseconds(5)));
    }
    if (!subs.all_warm()) {
        out.note = "not every subscriber received a warm-up message within 20 s";
        return out;
    }
    std::atomic<bool> pub_done{false};
    clock::time_point pub_end{};
    const auto start = clock::now();
    std::thread publisher([&] {
        for (std::size_t i = 0; i < n; ++i) {
            if (!pub.send_one('m')) {
                out.note = "the publisher gave up after " + std::to_string(i) + " messages";
                break;
            }
            if ((i & 1023) == 0 && clock::now() >= hard_deadline) {
                out.note = "time limit reached while publishing";
                break;
            }
            ++out.published;
        }
        if (pub.flush) {
            const std::string f = pub.flush();
            if (!f.empty() && out.note.empty()) out.note = f;
        }
        pub_end = clock::now();
        pub_done = true;
    });
    clock::time_point last_rx = start;
    while (!subs.all_have(n) && clock::now() < hard_deadline) {
        const std::size_t got = subs.drain(milliseconds(50));
        const auto now = clock::now();
        if (got > 0) {
            out.received += got;
            last_rx = now;
        } else if (pub_done.load() && now - std::max(last_rx, pub_end) > milliseconds(1000)) {
            break;  // the publisher is done and nothing came for a while: the rest was dropped
        }
    }
    publisher.join();
    out.seconds = std::chrono::duration<double>(last_rx - start).count();
    return out;
}

}  // namespace

std::size_t fanout_messages(const fanout_settings& s, std::size_t subscribers) {
    return std::max<std::size_t>(1, std::min(s.messages, s.max_deliveries / std::max<std::size_t>(1, subscribers)));
}

fanout_outcome run_raw_fanout(const fanout_settings& s, std::size_t subscribers, const std::string& xsub_endpoint,
                              const std::string& xpub_endpoint) {
    zmq::context_t ctx(1);
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    pub.set(zmq::sockopt::sndhwm, s.hwm);
    pub.connect(xsub_endpoint);
    const std::string head = std::string(bus_prefix) + topic;
    std::string payload = make_value('m', s.payload);
    publisher_fns f;
    f.send_one = [&](char tag) {
        payload[0] = tag;
        static_cast<void>(pub.send(zmq::buffer(head), zmq::send_flags::sndmore));
        static_cast<void>(pub.send(zmq::buffer(payload), zmq::send_flags::none));
        return true;
    };
    f.idle = [](milliseconds d) { std::this_thread::sleep_for(d); };
    return run_fanout(s, subscribers, xpub_endpoint, f);
}

fanout_outcome run_starbus_fanout(const fanout_settings& s, std::size_t subscribers, const client_options& cluster) {
    client_options po = cluster;
    po.window = s.window;
    client publisher(po);
    const deadline until(clock::now() + std::chrono::seconds(s.max_seconds));
    std::string payload = make_value('m', s.payload);
    publisher_fns f;
    f.send_one = [&](char tag) {
        payload[0] = tag;
        if (tag == 'w') {
            // Warm-up: synchronous, so a broker that is not ready yet is noticed.
            const result r = publisher.publish(topic, payload, std::chrono::seconds(2));
            return r.ok() || r.status == result_status::unreachable;
        }
        publisher.publish_async(topic, payload, until);
        return true;
    };
    f.flush = [&]() -> std::string {
        const result r = publisher.flush(until);
        return r.ok() ? std::string() : "flush: " + r.message;
    };
    f.idle = [&](milliseconds d) { publisher.poll(d); };
    return run_fanout(s, subscribers, cluster.cluster.primary().publish_endpoint(), f);
}

}  // namespace starbus::bench
