// File: test_bus_service.cpp
// The bus service without sockets: BUS-FETCH answered from the committed log
// only, held until a message commits or its wait ends, released when the
// broker stops serving; the publish port's fan-out only to who subscribed.
#include <catch2/catch.hpp>

#include <starbus/wire/request_changes.hpp>

#include "bus_service.hpp"
#include "fake_sink.hpp"
#include "testutil.hpp"

using namespace starbus;
using namespace std::chrono_literals;

namespace {

struct fixture {
    fixture() { replica.set_epoch(2); }
    test::temp_dir dir;
    local_replica replica{dir.path(), fsync_mode::never, 1000, bus_retention{1000, 1u << 20, 0}};
    test::fake_sink out;
    bus_service bus{replica, out};

    // Publishes `topic` as the next change; returns it.
    change publish(const std::string& topic) {
        publish_request r;
        r.client_id = 1;
        r.request_id = replica.last().seq + 1;
        r.topic = topic;
        r.payload = "p-" + topic;
        change c = change_for(r, 1000);
        c.epoch = replica.epoch();
        c.seq = replica.last().seq + 1;
        REQUIRE(replica.apply(c));
        return c;
    }
};

bus_fetch_request fetch(std::uint64_t request, std::uint32_t wait_ms, bus_start start = bus_start::oldest) {
    bus_fetch_request r;
    r.request_id = request;
    r.wait_ms = wait_ms;
    r.start = start;
    return r;
}

}  // namespace

TEST_CASE("bus_service: a fetch sees committed messages only, and waits for the next one", "[bus_service]") {
    fixture f;
    f.publish("a");
    f.publish("b");
    const steady_time t0{};
    // Nothing committed yet: held.
    f.bus.on_fetch("sub", fetch(1, 1000), 0, t0);
    REQUIRE(f.out.replies.empty());
    REQUIRE(f.bus.parked() == 1);
    // Both commit: the held fetch is answered with both, in log order.
    std::vector<change> committed{*f.replica.state().bus_log().begin(), *std::next(f.replica.state().bus_log().begin())};
    f.bus.on_committed(committed, 2, t0 + 1ms);
    const auto batches = f.out.of<bus_batch>();
    REQUIRE(batches.size() == 1);
    REQUIRE(batches[0].second.messages.size() == 2);
    REQUIRE(batches[0].second.messages[0].key == "a");
    REQUIRE(batches[0].second.next_seq == 2);
    REQUIRE(f.bus.parked() == 0);
}

TEST_CASE("bus_service: a held fetch is answered empty when its wait ends, NOT_SERVING when serving stops",
          "[bus_service]") {
    fixture f;
    const steady_time t0{};
    f.bus.on_fetch("s1", fetch(1, 100, bus_start::latest), 0, t0);
    f.bus.on_fetch("s2", fetch(2, 5000, bus_start::latest), 0, t0);
    f.bus.wake(0, t0 + 50ms, false);
    REQUIRE(f.out.replies.empty());
    f.bus.wake(0, t0 + 150ms, false);
    REQUIRE(f.out.of<bus_batch>().size() == 1);
    REQUIRE(f.out.of<bus_batch>()[0].first == "s1");
    f.bus.release();
    REQUIRE(f.out.not_serving == std::vector<std::pair<std::string, std::uint64_t>>{{"s2", 2}});
    REQUIRE_FALSE(f.bus.has_parked());
}

TEST_CASE("bus_service: committed changes reach the publish port only when somebody subscribed", "[bus_service]") {
    fixture f;
    const change m = f.publish("t");
    change k;
    k.epoch = 2;
    k.seq = 2;
    k.op = change_op::put;
    k.key = "key";
    k.value = "v";
    REQUIRE(f.replica.apply(k));
    f.bus.on_committed({m, k}, 2, {});
    REQUIRE(f.out.publications.empty());  // nobody listens: nothing encoded

    f.bus.on_subscription(std::string("\x01K", 2));  // a mirror
    f.bus.on_subscription(std::string("\x01" "Bt", 3));  // a raw bus subscriber
    REQUIRE(f.bus.mirrored());
    f.bus.on_committed({m, k}, 2, {});
    REQUIRE(f.out.publications.size() == 2);
    REQUIRE(f.out.publications[0].topic == "Bt");
    REQUIRE(f.out.publications[0].body == "p-t");
    REQUIRE(f.out.publications[1].topic == "K");
    // The mirror's batch carries the key and only the place of the bus message.
    decode_result d = decode(zmq::message_t(f.out.publications[1].body.data(), f.out.publications[1].body.size()));
    REQUIRE(d.ok());
    const auto& batch = std::get<change_batch>(*d.value);
    REQUIRE(batch.changes.size() == 2);
    REQUIRE(batch.changes[0].op == change_op::publish);
    REQUIRE(batch.changes[0].value.empty());
    REQUIRE(batch.changes[1].key == "key");

    f.bus.on_subscription(std::string("\x00K", 2));
    REQUIRE_FALSE(f.bus.mirrored());
}

TEST_CASE("bus_service: without a bus log a message is forwarded at once", "[bus_service]") {
    fixture f;
    f.bus.forward("news", "hello");
    REQUIRE(f.out.publications.size() == 1);
    REQUIRE(f.out.publications[0].topic == "Bnews");
    REQUIRE(f.out.publications[0].body == "hello");
}
