// File: bench_bus.cpp
// starbus-bench-bus: bus throughput, publish -> subscribe, through a real
// starbus-broker process (a 1-broker cluster), against raw libzmq in the same
// run: PUB -> XSUB/XPUB proxy (zmq::proxy_steerable in a separate process,
// like the broker) -> SUB, same message count, size and high-water marks.
//
// Three variants per repetition, in rotating order:
//   raw        raw PUB -> proxy process -> raw SUB
//   starbus    client::publish_async (pipelined, window) + flush -> broker
//              -> client::subscribe + next_message
//   starbus/raw-sub  the same publisher -> broker -> a raw SUB on the
//              broker's P+1 endpoint (frames ["B"+topic][payload])
// Each run first publishes warm-up messages until one reaches the subscriber
// (its subscription is in place), then times N measured messages from the
// first publish to the last one received. PUB/SUB drops at the high-water
// mark: the rate uses the count actually received, which is reported.
//
// The same binary, started with --serve-proxy, is the proxy process.
#include <unistd.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/common/codec.hpp>

#include "bench_support.hpp"

namespace {

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;

struct options {
    int reps = 5;
    std::size_t messages = 200000;
    std::size_t payload = 100;
    std::size_t window = 1000;
    int hwm = 100000;  // every PUB/SUB/XPUB/XSUB high-water mark (the broker's PUB uses 100000)
    int max_seconds = 60;
    std::string broker;
    std::string variants = "raw,starbus,starbus/raw-sub";
};

const std::string topic = "bench";

// ---- the proxy helper process ----

int serve_proxy(const std::string& xsub_endpoint, const std::string& xpub_endpoint, int hwm) {
    const pid_t parent = ::getppid();
    zmq::context_t ctx(1);
    zmq::socket_t xsub(ctx, zmq::socket_type::xsub);
    zmq::socket_t xpub(ctx, zmq::socket_type::xpub);
    zmq::socket_t control(ctx, zmq::socket_type::pair);
    for (zmq::socket_t* s : {&xsub, &xpub, &control}) s->set(zmq::sockopt::linger, 0);
    xsub.set(zmq::sockopt::rcvhwm, hwm);
    xsub.set(zmq::sockopt::sndhwm, hwm);
    xpub.set(zmq::sockopt::sndhwm, hwm);
    xpub.set(zmq::sockopt::rcvhwm, hwm);
    xsub.bind(xsub_endpoint);
    xpub.bind(xpub_endpoint);
    control.bind("inproc://control");
    std::atomic<bool> done{false};
    // Bounded life: stop when the benchmark is gone, or after helper_lifetime.
    std::thread watchdog([&] {
        zmq::socket_t c(ctx, zmq::socket_type::pair);
        c.set(zmq::sockopt::linger, 0);
        c.connect("inproc://control");
        const auto until = clock::now() + helper_lifetime;
        while (!done.load() && !parent_gone(parent) && clock::now() < until)
            std::this_thread::sleep_for(milliseconds(100));
        static_cast<void>(c.send(zmq::str_buffer("TERMINATE"), zmq::send_flags::dontwait));
    });
    try {
        zmq::proxy_steerable(xsub, xpub, zmq::socket_ref(), control);
    } catch (const zmq::error_t& e) {
        std::cerr << "proxy stopped: " << e.what() << "\n";
    }
    done = true;
    watchdog.join();
    return 0;
}

// ---- one measured run ----

struct outcome {
    std::size_t received = 0;
    double seconds = 0;          // first measured publish -> last measured message received
    double publish_seconds = 0;  // first measured publish -> publisher done (flushed)
    std::string note;            // what went wrong, if anything
    [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0; }
};

// Shared by the publisher and subscriber threads of one run.
struct run_state {
    std::atomic<bool> sub_ready{false};  // a warm-up message arrived: the subscription is in place
    std::atomic<bool> pub_done{false};
    std::atomic<bool> sub_done{false};
    clock::time_point start{};  // written by the publisher before pub_done
    clock::time_point pub_end{};
    std::string pub_note;
};

// A subscriber returns the first payload byte of the next message ('w' warm-up, 'm' measured).
using receive_fn = std::function<std::optional<char>(milliseconds)>;
// A publisher sends one message with the given tag; `flush` waits for the rest (may be empty).
struct publisher_fns {
    std::function<bool(char tag)> send_one;  // false: gave up
    std::function<std::string()> flush;      // "" when fine, else what failed
    std::function<void(milliseconds)> idle;  // wait a little during warm-up (servicing)
};

outcome run_pair(const options& o, const publisher_fns& pub, const receive_fn& receive) {
    run_state st;
    outcome out;
    const auto hard_deadline = clock::now() + std::chrono::seconds(o.max_seconds);
    clock::time_point last_rx{};
    std::thread subscriber([&] {
        while (out.received < o.messages && clock::now() < hard_deadline) {
            auto tag = receive(milliseconds(50));
            const auto now = clock::now();
            if (!tag) {
                // The publisher is done and nothing came for a while: the rest was dropped.
                if (st.pub_done.load() && now - std::max(last_rx, st.pub_end) > milliseconds(1000)) break;
                continue;
            }
            if (*tag == 'w') {
                st.sub_ready = true;
            } else if (*tag == 'm') {
                ++out.received;
                last_rx = now;
            }
        }
        st.sub_done = true;
    });
    // Warm-up: until one message reaches the subscriber (bounded).
    const auto warm_until = clock::now() + std::chrono::seconds(10);
    while (!st.sub_ready.load() && !st.sub_done.load() && clock::now() < warm_until) {
        if (!pub.send_one('w')) break;
        pub.idle(milliseconds(10));
    }
    if (!st.sub_ready.load()) {
        st.pub_note = "the subscriber never received a warm-up message";
    } else {
        st.start = clock::now();
        for (std::size_t i = 0; i < o.messages; ++i) {
            if (!pub.send_one('m')) {
                st.pub_note = "the publisher gave up after " + std::to_string(i) + " messages";
                break;
            }
            if ((i & 1023) == 0 && clock::now() >= hard_deadline) {
                st.pub_note = "time limit reached while publishing";
                break;
            }
        }
        if (pub.flush) {
            std::string f = pub.flush();
            if (!f.empty() && st.pub_note.empty()) st.pub_note = f;
        }
    }
    st.pub_end = clock::now();
    st.pub_done = true;
    subscriber.join();
    if (out.received > 0) out.seconds = std::chrono::duration<double>(last_rx - st.start).count();
    out.publish_seconds = std::chrono::duration<double>(st.pub_end - st.start).count();
    out.note = st.pub_note;
    return out;
}

// ---- raw libzmq pieces ----

class raw_sub {
  public:
    raw_sub(const std::string& endpoint, const std::string& prefix, int hwm)
        : _ctx(1), _sub(_ctx, zmq::socket_type::sub) {
        _sub.set(zmq::sockopt::linger, 0);
        _sub.set(zmq::sockopt::rcvhwm, hwm);
        _sub.set(zmq::sockopt::subscribe, prefix);
        _sub.connect(endpoint);
    }
    std::optional<char> receive(milliseconds timeout) {
        zmq::message_t head, body;
        if (!_sub.recv(head, zmq::recv_flags::dontwait)) {
            zmq::pollitem_t item{_sub.handle(), 0, ZMQ_POLLIN, 0};
            if (zmq::poll(&item, 1, timeout) <= 0) return std::nullopt;
            if (!_sub.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
        }
        if (!head.more()) return std::nullopt;
        static_cast<void>(_sub.recv(body, zmq::recv_flags::dontwait));
        if (body.size() == 0) return std::nullopt;
        return *static_cast<const char*>(body.data());
    }

  private:
    zmq::context_t _ctx;
    zmq::socket_t _sub;
};

class raw_pub {
  public:
    raw_pub(const std::string& endpoint, std::size_t payload, int hwm)
        : _ctx(1),
          _pub(_ctx, zmq::socket_type::pub),
          _head(std::string(bus_prefix) + topic),
          _payload(make_value('m', payload)) {
        _pub.set(zmq::sockopt::linger, 0);
        _pub.set(zmq::sockopt::sndhwm, hwm);
        _pub.connect(endpoint);
    }
    bool send(char tag) {
        _payload[0] = tag;
        static_cast<void>(_pub.send(zmq::buffer(_head), zmq::send_flags::sndmore));
        static_cast<void>(_pub.send(zmq::buffer(_payload), zmq::send_flags::none));
        return true;
    }

  private:
    zmq::context_t _ctx;
    zmq::socket_t _pub;
    std::string _head;
    std::string _payload;
};

outcome run_raw(const options& o, const std::string& xsub_endpoint, const std::string& xpub_endpoint) {
    raw_pub p(xsub_endpoint, o.payload, o.hwm);
    raw_sub s(xpub_endpoint, std::string(bus_prefix) + topic, o.hwm);
    publisher_fns f;
    f.send_one = [&](char tag) { return p.send(tag); };
    f.idle = [](milliseconds d) { std::this_thread::sleep_for(d); };
    return run_pair(o, f, [&](milliseconds t) { return s.receive(t); });
}

// ---- starbus pieces ----

outcome run_starbus(const options& o, const cluster_config& cluster, bool client_subscriber) {
    client_options po;
    po.cluster = cluster;
    po.window = o.window;
    client publisher(po);
    const deadline until(clock::now() + std::chrono::seconds(o.max_seconds));
    std::string payload = make_value('m', o.payload);
    publisher_fns f;
    f.send_one = [&](char tag) {
        payload[0] = tag;
        if (tag == 'w') {
            // Warm-up: synchronous, so a broker that is not ready yet is noticed.
            result r = publisher.publish(topic, payload, std::chrono::seconds(2));
            return r.ok() || r.status == result_status::unreachable;
        }
        publisher.publish_async(topic, payload, until);
        return true;
    };
    f.flush = [&]() -> std::string {
        result r = publisher.flush(until);
        return r.ok() ? std::string() : "flush: " + r.message;
    };
    f.idle = [&](milliseconds d) { publisher.poll(d); };

    if (client_subscriber) {
        client_options so;
        so.cluster = cluster;
        client subscriber(so);
        subscriber.subscribe(topic);
        return run_pair(o, f, [&](milliseconds t) -> std::optional<char> {
            auto m = subscriber.next_message(t);
            if (!m || m->payload.empty()) return std::nullopt;
            return m->payload[0];
        });
    }
    raw_sub s(cluster.primary().publish_endpoint(), std::string(bus_prefix) + topic, o.hwm);
    return run_pair(o, f, [&](milliseconds t) { return s.receive(t); });
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");

    const std::vector<std::string> variants = split_list(o.variants);
    for (const auto& v : variants)
        if (v != "raw" && v != "starbus" && v != "starbus/raw-sub")
            throw std::runtime_error("unknown variant \"" + v + "\" (known: raw, starbus, starbus/raw-sub)");

    // The raw baseline's proxy: a separate process, like the broker.
    const std::string host = test::random_loopback_host();
    const int port = test::random_base_port();
    const std::string xsub_ep = "tcp://" + host + ":" + std::to_string(port);
    const std::string xpub_ep = "tcp://" + host + ":" + std::to_string(port + 1);
    tracked_process proxy(
        {self_path(), "--serve-proxy", "--xsub", xsub_ep, "--xpub", xpub_ep, "--hwm", std::to_string(o.hwm)},
        "/dev/null");

    cluster_settings settings;
    settings.brokers = 1;
    settings.heartbeat_ms = 100;
    bench_cluster cluster(broker_path, settings);
    cluster.start_all();
    std::cout << "starbus-bench-bus: " << o.messages << " messages of " << o.payload << " bytes, window " << o.window
              << ", HWM " << o.hwm << ", " << o.reps << " repetitions\n";
    std::cout << "cluster: " << cluster.describe() << "; raw proxy process at " << xsub_ep << " -> " << xpub_ep << "\n";
    if (!cluster.wait_settled(0, std::chrono::seconds(30))) {
        std::cerr << "the broker did not become active within 30 s:\n" << cluster.log_tail();
        return 1;
    }

    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, std::vector<double>> received;
    table runs({"rep", "variant", "received", "lost", "seconds", "msgs/s", "publisher msgs/s", "note"});
    for (int rep = 0; rep < o.reps; ++rep) {
        for (std::size_t k = 0; k < variants.size(); ++k) {
            const std::string& v = variants[(k + static_cast<std::size_t>(rep)) % variants.size()];
            outcome r;
            if (v == "raw") r = run_raw(o, xsub_ep, xpub_ep);
            else if (v == "starbus") r = run_starbus(o, cluster.config(), true);
            else if (v == "starbus/raw-sub") r = run_starbus(o, cluster.config(), false);
            else continue;
            rates[v].push_back(r.rate());
            received[v].push_back(static_cast<double>(r.received));
            runs.add({std::to_string(rep + 1), v, std::to_string(r.received), std::to_string(o.messages - r.received),
                      fmt(r.seconds, 3), fmt(r.rate()),
                      fmt(r.publish_seconds > 0 ? static_cast<double>(o.messages) / r.publish_seconds : 0), r.note});
            std::cout << "  rep " << rep + 1 << " " << v << ": " << fmt(r.rate()) << " msgs/s (" << r.received
                      << " received)" << (r.note.empty() ? "" : " [" + r.note + "]") << "\n"
                      << std::flush;
        }
    }
    std::cout << "\n";
    runs.print();
    std::cout << "\n";
    table sum({"variant", "median msgs/s", "min", "max", "median received", "ratio vs raw"});
    const double raw_median = summarize(rates["raw"]).median;
    for (const auto& v : variants) {
        const summary s = summarize(rates[v]);
        sum.add({v, fmt(s.median), fmt(s.min), fmt(s.max), fmt(summarize(received[v]).median),
                 raw_median > 0 ? fmt(s.median / raw_median, 2) : "-"});
    }
    sum.print();
    std::cout << "\n";
    for (const auto& v : variants) {
        if (v == "raw") continue;
        const double m = summarize(rates[v]).median;
        if (raw_median <= 0) {
            std::cout << "bus: " << v << " " << fmt(m) << " msg/s (median of " << o.reps
                      << "), raw proxy not measured: no ratio\n";
            continue;
        }
        const double ratio = raw_median > 0 ? m / raw_median : 0;
        std::cout << "bus: " << v << " " << fmt(m) << " msg/s (median of " << o.reps << "), raw proxy "
                  << fmt(raw_median) << " msg/s, ratio " << fmt(ratio, 2)
                  << " (target >= 0.50: " << (ratio >= 0.5 ? "met" : "MISSED") << ")\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-bus: bus throughput through a broker, against a raw libzmq XSUB/XPUB proxy"};
    options o;
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 1000));
    app.add_option("--messages", o.messages, "messages per run")->check(CLI::Range(1, 100000000));
    app.add_option("--size", o.payload, "payload bytes")->check(CLI::Range(1, 1000000));
    app.add_option("--window", o.window, "publisher window (requests in flight)")->check(CLI::Range(1, 1000000));
    app.add_option("--hwm", o.hwm, "high-water mark of every PUB/SUB socket of the benchmark and the raw proxy")
        ->check(CLI::Range(1, 10000000));
    app.add_option("--max-seconds", o.max_seconds, "time limit of one run")->check(CLI::Range(1, 3600));
    app.add_option("--variants", o.variants, "comma-separated: raw, starbus, starbus/raw-sub");
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    bool proxy_mode = false;
    std::string xsub, xpub;
    app.add_flag("--serve-proxy", proxy_mode, "internal: be the raw proxy process")->group("");
    app.add_option("--xsub", xsub, "internal")->group("");
    app.add_option("--xpub", xpub, "internal")->group("");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-bus", [&] {
        if (proxy_mode) return serve_proxy(xsub, xpub, o.hwm);
        return run(o);
    });
}
