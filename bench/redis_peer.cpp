// File: redis_peer.cpp
// The Redis measures of starbus-bench-peers (redis_peer.hpp), with hiredis.
#include "redis_peer.hpp"

#include <hiredis/hiredis.h>

#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "bench_support.hpp"

namespace starbus::bench {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using redis_ptr = std::unique_ptr<redisContext, decltype(&redisFree)>;
using reply_ptr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

redis_ptr redis_connect(const endpoint& ep) {
    const timeval connect_timeout{5, 0};
    redis_ptr c(redisConnectWithTimeout(ep.host.c_str(), ep.port, connect_timeout), &redisFree);
    if (!c || c->err)
        throw std::runtime_error("redis: cannot connect to " + ep.host + ":" + std::to_string(ep.port) + ": " +
                                 (c ? c->errstr : "out of memory"));
    // Every blocking read ends within 10 s: a WAIT 1 0 without a replica fails instead of hanging.
    const timeval io_timeout{10, 0};
    redisSetTimeout(c.get(), io_timeout);
    return c;
}

reply_ptr get_reply(redisContext* c) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK || !r)
        throw std::runtime_error(std::string("redis: no reply: ") + (c->err ? c->errstr : "unknown error"));
    reply_ptr reply(static_cast<redisReply*>(r), &freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis: error reply: " + std::string(reply->str));
    return reply;
}

reply_ptr command(redisContext* c, const char* text) {
    redisAppendCommand(c, text);
    return get_reply(c);
}

}  // namespace

// Waits until `ep` answers PING (not LOADING) and, for a master, until its replica acknowledges a write.
void redis_wait_ready(const endpoint& ep, bool has_replica, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    std::string why;
    while (steady::now() < deadline) {
        try {
            auto c = redis_connect(ep);
            command(c.get(), "PING");
            if (!has_replica) return;
            command(c.get(), "SET starbus-bench-probe 1");
            if (command(c.get(), "WAIT 1 500")->integer >= 1) return;
            why = "the replica did not acknowledge";
        } catch (const std::exception& e) {
            why = e.what();
        }
        std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("redis at " + ep.host + ":" + std::to_string(ep.port) + " not ready: " + why);
}

// 1 publisher (PUBLISH pipelined w.window at a time) -> 1 subscriber.
double redis_pubsub(const endpoint& ep, const peer_workload& w, std::size_t& received_out) {
    const std::string channel = "bench.ch";
    auto sub = redis_connect(ep);
    auto pub = redis_connect(ep);
    redisAppendCommand(sub.get(), "SUBSCRIBE %s", channel.c_str());
    get_reply(sub.get());  // the subscription is in place
    const std::string payload = make_value('r', w.payload);
    std::size_t got = 0;
    steady::time_point last;
    std::string failure;
    const auto start = steady::now();
    std::thread reader([&] {
        try {
            // Blocking reads end at the 10 s I/O timeout at worst.
            while (got < w.messages) {
                get_reply(sub.get());
                ++got;
                last = steady::now();
            }
        } catch (const std::exception& e) {
            failure = e.what();
        }
    });
    try {
        for (std::size_t sent = 0; sent < w.messages;) {
            std::size_t batch = 0;
            for (; batch < w.window && sent < w.messages; ++batch, ++sent)
                redisAppendCommand(pub.get(), "PUBLISH %b %b", channel.data(), channel.size(), payload.data(),
                                   payload.size());
            for (std::size_t i = 0; i < batch; ++i) get_reply(pub.get());
        }
    } catch (...) {
        reader.join();
        throw;
    }
    reader.join();
    received_out = got;
    if (got == 0) throw std::runtime_error("redis pub/sub: nothing received (" + failure + ")");
    if (!failure.empty()) std::cout << "    (the subscriber stopped early: " << failure << ")\n";
    return static_cast<double>(got) / std::chrono::duration<double>(last - start).count();
}

// SET key value (16-byte keys, 100-byte values), WAIT 1 0: the replica has it.
redis_change_figures redis_set_wait(const endpoint& master, const peer_workload& w, std::uint64_t& key_counter) {
    auto c = redis_connect(master);
    const std::string value = make_value('v', w.payload);
    const auto set = [&] {
        const std::string key = make_key("k", key_counter++ % 100'000, w.key_bytes);
        redisAppendCommand(c.get(), "SET %b %b", key.data(), key.size(), value.data(), value.size());
    };
    const auto wait_replica = [&] { redisAppendCommand(c.get(), "WAIT 1 0"); };
    redis_change_figures f;
    const auto start = steady::now();
    for (std::size_t done = 0; done < w.changes;) {
        std::size_t batch = 0;
        for (; batch < w.window && done < w.changes; ++batch, ++done) set();
        wait_replica();
        for (std::size_t i = 0; i < batch; ++i) get_reply(c.get());
        if (get_reply(c.get())->integer < 1) throw std::runtime_error("redis: WAIT 1 0 returned 0 replicas");
    }
    f.rate = static_cast<double>(w.changes) / seconds_since(start);
    std::vector<double> us;
    for (std::size_t i = 0; i < w.latency_requests; ++i) {
        // Both commands in one write, as a client that wants the replica's acknowledgement sends them.
        set();
        wait_replica();
        const auto t0 = steady::now();
        get_reply(c.get());
        if (get_reply(c.get())->integer < 1) throw std::runtime_error("redis: WAIT 1 0 returned 0 replicas");
        us.push_back(micros(steady::now() - t0));
    }
    f.p50 = percentile(us, 50);
    return f;
}

double redis_ping_p50(const endpoint& ep, const peer_workload& w) {
    auto c = redis_connect(ep);
    std::vector<double> us;
    for (std::size_t i = 0; i < w.latency_requests; ++i) {
        redisAppendCommand(c.get(), "PING");
        const auto t0 = steady::now();
        get_reply(c.get());
        us.push_back(micros(steady::now() - t0));
    }
    return percentile(us, 50);
}

void redis_set_fsync(const std::vector<endpoint>& nodes, const std::string& mode) {
    for (const auto& ep : nodes) {
        auto c = redis_connect(ep);
        redisAppendCommand(c.get(), "CONFIG SET appendfsync %s", mode.c_str());
        get_reply(c.get());
    }
}

}  // namespace starbus::bench
