// File: test_fast_failover.cpp
// A crashed broker process is known dead when the kernel closes its
// connections, not after an expiry: backups (their heartbeat links) and
// clients (their DEALER, whether they own their ZeroMQ context or share one)
// act at once, under the same split-brain rules (the client's vote, the rank
// order, synchronised backups only). And a heartbeat link speaks for its own
// peer only.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/wire/codec.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::client_options_for;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

using ms = std::chrono::milliseconds;

// The time from a SIGKILL of broker `victim` to the first write acknowledged after it, by a client that was
// using the victim as its server.
ms gap_after_kill(test_cluster& c, starbus::client& cl, std::size_t victim, const std::string& key) {
    REQUIRE(cl.set(key + ".before", "x", starbus::change_class::operational, 5s).ok());
    const auto killed = std::chrono::steady_clock::now();
    c.kill(victim);
    const auto r = cl.set(key + ".after", "y", starbus::change_class::operational, 15s);
    const auto gap = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - killed);
    INFO("the write after the kill: " << r.message);
    REQUIRE_WITH_LOGS(c, r.ok());
    return gap;
}

}  // namespace

TEST_CASE("fast failover: a SIGKILLed server is replaced long before its expiry, down the chain",
          "[integration]") {
    // Heartbeat 500 ms: expiry 1.5 s, and the client's attempt timeout 1.5 s. Without the connection-loss
    // evidence neither the backup nor the client could act before 1.5 s.
    test_cluster c(3, 500);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    starbus::client cl(client_options_for(c));

    const ms first = gap_after_kill(c, cl, 0, "crash.a");
    INFO("A killed: B served after " << first.count() << " ms");
    REQUIRE(cl.server()->name == "B");
    CHECK(first < 750ms);

    // B's replica C must be synchronised with B before C may take over (a partial copy never serves).
    REQUIRE_WITH_LOGS(c, c.wait_role("C", "passive", 20s, false));
    REQUIRE(wait_until([&] { return c.dump("C") == c.dump("B"); }, 20s, 50ms));
    const ms second = gap_after_kill(c, cl, 1, "crash.b");
    INFO("B killed: C served after " << second.count() << " ms");
    REQUIRE(cl.server()->name == "C");
    CHECK(second < 750ms);

    // Nothing acknowledged was lost on the way, and the primary comes back as before.
    auto state = c.dump("C");
    REQUIRE(state);
    for (const char* k : {"crash.a.before", "crash.a.after", "crash.b.before", "crash.b.after"}) CHECK(state->count(k) == 1);
    c.start(0);
    c.start(1);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 60s));
}

TEST_CASE("fast failover: clients sharing one ZeroMQ context leave a SIGKILLed server at once too", "[integration]") {
    // Clients sharing a context watch no socket monitor (connection.hpp): they see their DEALER lose the pipe
    // libzmq gave it while connected. Heartbeat 500 ms: attempt timeout 1.5 s, which is what they waited before.
    test_cluster c(3, 500);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    zmq::context_t ctx(1);
    auto shared = client_options_for(c);
    shared.context = &ctx;

    // A client blocked in a request (its wait must wake for the loss, not only at its next timer).
    starbus::client writer(shared);
    const ms first = gap_after_kill(c, writer, 0, "shared.a");
    INFO("A killed: B served the shared-context client after " << first.count() << " ms");
    REQUIRE(writer.server()->name == "B");
    CHECK(first < 750ms);

    // Mirroring clients serviced in turn with poll(0), as in the reconnect storm: each finds the next server
    // and resynchronises, holding the write made after the kill.
    auto mirror = shared;
    mirror.mirror_state = true;
    std::vector<std::unique_ptr<starbus::client>> mirrors;
    for (int i = 0; i < 20; ++i) mirrors.push_back(std::make_unique<starbus::client>(mirror));
    const auto all_on = [&](const std::string& server, const std::string& key) {
        for (auto& m : mirrors) m->poll(0ms);
        writer.poll(0ms);
        return std::all_of(mirrors.begin(), mirrors.end(), [&](const auto& m) {
            return m->synchronised() && m->server() && m->server()->name == server && m->mirror().find(key);
        });
    };
    REQUIRE_WITH_LOGS(c, wait_until([&] { return all_on("B", "shared.a.after"); }, 20s, 0ms));
    REQUIRE_WITH_LOGS(c, c.wait_role("C", "passive", 20s, false));
    REQUIRE(wait_until([&] { return c.dump("C") == c.dump("B"); }, 20s, 50ms));

    const auto killed = std::chrono::steady_clock::now();
    c.kill(1);
    std::optional<starbus::result> vote;
    writer.submit(starbus::change_request::put("shared.b.after", "y"), starbus::deadline(killed + 15s),
                  [&](const starbus::result& r) { vote = r; });
    REQUIRE_WITH_LOGS(c, wait_until([&] { return all_on("C", "shared.b.after"); }, 15s, 0ms));
    const auto all_synced = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - killed);
    INFO("B killed: 20 mirrors synchronised with C after " << all_synced.count() << " ms");
    REQUIRE(vote);
    CHECK(vote->ok());
    CHECK(all_synced < 750ms);
    c.start(0);
    c.start(1);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 60s));
}

TEST_CASE("fast failover: a heartbeat link speaks only for the broker at its address", "[integration]") {
    test_cluster c(3, 50);
    c.start(0);
    c.start(1);  // C stays down: the test answers on C's heartbeat port
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B"}, 20s));
    zmq::context_t ctx;
    zmq::socket_t impostor(ctx, zmq::socket_type::pub);
    impostor.set(zmq::sockopt::linger, 0);
    impostor.bind(starbus::test::port_plus(starbus::test::endpoint_of_rank(c.cluster_file(), 2), 2));
    // From C's address, heartbeats naming A, serving at an epoch far above A's: believed, they would make B
    // resynchronise with "A" over and over, or let A's real silence go unnoticed.
    const starbus::heartbeat forged{"A", 0, starbus::broker_state::active, 1u << 30, 0, 0, ""};
    const bool dropped = wait_until(
        [&] {
            impostor.send(zmq::buffer(starbus::encode(forged)));
            return c.log_of(1).find("dropped a heartbeat naming A (rank 0) that came from C's heartbeat port") !=
                   std::string::npos;
        },
        10s, 20ms);
    REQUIRE_WITH_LOGS(c, dropped);
    auto roles = c.roles();
    CHECK(roles["A"] == "active");
    CHECK(roles["B"] == "passive");
    REQUIRE(c.cli({"set", "still.served", "1"}).exit_code == 0);
}

TEST_CASE("fast failover: a bus subscriber and a publisher follow SIGKILL and failback cycles without a stall",
          "[integration][threads]") {
    // Each client watches its DEALER with a socket monitor, and replaces the DEALER (and its monitor) at every
    // walk. libzmq's I/O thread sends monitor events with a blocking send: a monitor closed before its socket
    // stopped being watched blocked that thread for good, and the client went silent to every broker (found by
    // this test and the chaos runs: a subscriber stalled after one of the first cycles).
    test_cluster c(3, 100);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));
    using steady = std::chrono::steady_clock;
    std::atomic<bool> stop{false};
    std::atomic<int> received{0};
    std::atomic<steady::rep> last_rx{steady::now().time_since_epoch().count()};
    std::thread subscriber([&] {
        starbus::client sub(client_options_for(c));
        sub.subscribe("cycle/");
        while (!stop)
            if (sub.next_message(100ms)) {
                ++received;
                last_rx = steady::now().time_since_epoch().count();
            }
    });
    std::atomic<int> published{0};
    std::thread publisher([&] {
        starbus::client pub(client_options_for(c));
        for (int i = 0; !stop; ++i) {
            if (pub.publish("cycle/n", std::to_string(i), 2s).ok()) ++published;
            std::this_thread::sleep_for(5ms);
        }
    });
    const auto quiet_for = [&] {
        return std::chrono::duration_cast<ms>(steady::now().time_since_epoch() -
                                              steady::duration(last_rx.load()));
    };
    // A failed REQUIRE below unwinds through here: stop and join the threads first (a joinable thread's
    // destructor would abort the whole test program, leaving the brokers behind).
    struct joiner {
        std::atomic<bool>& stop;
        std::thread& a;
        std::thread& b;
        ~joiner() {
            stop = true;
            if (a.joinable()) a.join();
            if (b.joinable()) b.join();
        }
    } join_at_exit{stop, subscriber, publisher};
    // Messages keep arriving, from each server in turn: the subscriber (and the publisher) follow every change.
    const auto flowing = [&] {
        const int before = received;
        return wait_until([&] { return received > before + 5; }, 5s, 10ms);
    };
    bool stalled = false;
    for (int cycle = 0; cycle < 10 && !stalled; ++cycle) {
        stalled = !flowing();
        c.kill(0);
        REQUIRE_WITH_LOGS(c, wait_until([&] { return c.roles()["B"] == "active"; }, 10s, 20ms));
        stalled = stalled || !flowing();
        c.start(0);
        REQUIRE_WITH_LOGS(c, wait_until([&] {
            auto r = c.roles();
            return r["A"] == "active" && r["B"] == "passive";
        }, 20s, 20ms));
        INFO("cycle " << cycle << ": " << received << " received of " << published << " published, none for "
                      << quiet_for().count() << " ms");
        CHECK_FALSE(stalled);
    }
}
