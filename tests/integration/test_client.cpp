// File: test_client.cpp
// The client library against real brokers: it follows a failover by itself
// (events, re-sent requests applied once), its mirror re-synchronises on every
// server change, a subscriber keeps receiving after a failover, and sockets
// abandoned on the way are closed (no file-descriptor growth).
#include <catch2/catch.hpp>

#include <dirent.h>

#include <thread>

#include <starbus/client/client.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

}  // namespace

TEST_CASE("client: follows a failover and a failback, and its mirror re-synchronises each time", "[integration]") {
    test_cluster c(3);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));

    auto opts = client_options_for(c);
    opts.mirror_state = true;
    starbus::client cl(opts);
    std::vector<std::string> servers;
    int syncs = 0;
    cl.on_event([&](const starbus::client_event& e) {
        if (auto* s = std::get_if<starbus::server_changed>(&e)) servers.push_back(s->name);
        if (std::get_if<starbus::synchronised>(&e)) ++syncs;
    });
    for (int i = 0; i < 50; ++i) REQUIRE(cl.set("k." + std::to_string(i), "a", starbus::change_class::operational, 5s).ok());
    REQUIRE(cl.wait_synchronised(5s));
    REQUIRE(wait_until([&] { cl.poll(10ms); return cl.mirror().entries().size() >= 50; }, 5s));
    REQUIRE(servers == std::vector<std::string>{"A"});

    c.kill(0);
    // The next write finds B by itself; B takes over on this client's vote.
    auto r = cl.set("after.kill", "b", starbus::change_class::operational, 15s);
    REQUIRE_WITH_LOGS(c, r.ok());
    REQUIRE(cl.server()->name == "B");
    auto refused = cl.set("cfg", "x", starbus::change_class::config, 5s);
    REQUIRE(refused.status == starbus::result_status::refused);
    REQUIRE(refused.primary == "A");
    const int syncs_before = syncs;
    REQUIRE(wait_until([&] { cl.poll(10ms); return cl.synchronised() && syncs > syncs_before - 1 &&
                                                   cl.mirror().find("after.kill") != nullptr; }, 10s));

    c.start(0);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    REQUIRE(cl.set("after.failback", "c", starbus::change_class::config, 10s).ok());
    REQUIRE(cl.server()->name == "A");
    REQUIRE(servers.size() >= 3);
    REQUIRE(servers.back() == "A");
    // The mirror converges to exactly what the server holds.
    REQUIRE(wait_until(
        [&] {
            cl.poll(10ms);
            auto d = c.dump();
            if (!d || !cl.synchronised() || d->size() != cl.mirror().entries().size()) return false;
            for (const auto& [k, v] : *d) {
                const starbus::change* m = cl.mirror().find(k);
                if (!m || m->value != v) return false;
            }
            return true;
        },
        10s));
}

TEST_CASE("client: a subscriber keeps receiving after the server is killed", "[integration]") {
    test_cluster c(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    starbus::client sub(client_options_for(c));
    starbus::client pub(client_options_for(c));
    sub.subscribe("news/");
    // Publish until the subscription is in place (PUB/SUB joins take a moment).
    REQUIRE(wait_until(
        [&] {
            REQUIRE(pub.publish("news/a", "before", 5s).ok());
            auto m = sub.next_message(20ms);
            return m && m->payload == "before";
        },
        10s));
    c.kill(0);
    // After the failover, the subscriber follows B by itself (its pings find the new server).
    bool got = wait_until(
        [&] {
            if (!pub.publish("news/b", "after", 10s).ok()) return false;
            for (auto m = sub.next_message(50ms); m; m = sub.next_message(0ms))
                if (m->payload == "after") return true;
            return false;
        },
        20s, 1ms);
    REQUIRE_WITH_LOGS(c, got);
    REQUIRE(sub.server()->name == "B");
}

TEST_CASE("client: thousands of reconnects leave no file descriptors behind", "[integration]") {
    test_cluster c(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
    auto opts = client_options_for(c);
    opts.attempt_timeout = 20ms;  // each client gives up on dead A quickly, closes the socket and moves to B
    {
        starbus::client warm(opts);
        REQUIRE(warm.set("warm", "1", starbus::change_class::operational, 5s).ok());
    }
    const std::size_t before = open_fds();
    int reconnects = 0;
    const auto stop_at = std::chrono::steady_clock::now() + 60s;  // bounded, even on a slow machine
    for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < stop_at; ++i) {
        starbus::client cl(opts);  // starts at A (dead), moves to B: two sockets opened, one abandoned
        REQUIRE(cl.set("fd.test", std::to_string(i), starbus::change_class::operational, 5s).ok());
        ++reconnects;
    }
    REQUIRE(reconnects >= 200);
    const std::size_t after = open_fds();
    INFO("fds before " << before << ", after " << after << " over " << reconnects << " clients");
    REQUIRE(after <= before + 4);
}

TEST_CASE("client: a client started while the primary is down does not wait a timeout on it", "[integration]") {
    test_cluster c(3, 500);  // heartbeat 500 ms: the per-attempt timeout is 1.5 s
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    c.kill(0);
    REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 20s));
    // A fresh client asks every broker who serves before it tries the dead primary.
    const auto t0 = std::chrono::steady_clock::now();
    starbus::client cl(client_options_for(c));
    REQUIRE(cl.set("fresh", "1", starbus::change_class::operational, 10s).ok());
    const auto took = std::chrono::steady_clock::now() - t0;
    INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    REQUIRE(took < 1200ms);  // walking to A first would cost at least the 1.5 s attempt timeout
    REQUIRE(cl.server()->name == "B");
}

TEST_CASE("client: a client serviced less often than it pings still finds that its server died", "[integration]") {
    test_cluster c(2);  // heartbeat 50 ms: attempt timeout 250 ms, a ping every 50 ms
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    starbus::client cl(client_options_for(c));
    REQUIRE(cl.set("rare.before", "x", starbus::change_class::operational, 5s).ok());
    bool lost = false;
    cl.on_event([&](const starbus::client_event& e) { lost = lost || std::holds_alternative<starbus::server_lost>(e); });
    c.kill(0);
    // An application that looks at the client only every 150 ms (three pings'
    // worth, under one attempt timeout): every call comes after a gap.
    const auto gave_up_at = std::chrono::steady_clock::now() + 10s;
    while (!lost && std::chrono::steady_clock::now() < gave_up_at) {
        cl.poll(0ms);
        std::this_thread::sleep_for(150ms);  // the application's own pace, the subject of the test
    }
    REQUIRE_WITH_LOGS(c, lost);
}
