// File: bench_bus.cpp
// starbus-bench-bus: bus throughput, publish -> subscribe, through a real
// starbus-broker process (a 1-broker cluster), against raw libzmq in the same
// run: PUB -> XSUB/XPUB proxy (zmq::proxy_steerable in a separate process,
// like the broker) -> SUB, same message count, size and high-water marks.
//
// Three variants, the starbus ones once per bus retention (--retain: one
// 1-broker cluster each, all running at once), every run of a repetition in
// rotating order:
//   raw        raw PUB -> proxy process -> raw SUB
//   starbus    client::publish_async (pipelined, window) + flush -> broker
//              -> client::subscribe + next_message
//   starbus/raw-sub  the same publisher -> broker -> a raw SUB on the
//              broker's P+1 endpoint (frames ["B"+topic][payload])
// Retention is what the issue asks to cost: with [bus] retain_messages = 0
// the broker forwards a publish at once and acknowledges it (best effort),
// and the client subscribes on the SUB socket; with a bus log each publish
// is a logged change (fsync batch, acknowledged per the ack mode) and the
// client subscriber fetches from the log with BUS-FETCH long polls.
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
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <starbus/client/client.hpp>
#include <starbus/security/curve_sockets.hpp>
#include <starbus/wire/codec.hpp>

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
    std::string retain = "0,100000";  // [bus] retain_messages of each starbus cluster
    std::string security = "none";    // none, curve, or none,curve: each retention on a cluster of each
    std::string scrape = "0";         // ms between scrapes of /metrics, a list: 0 (none), 100, or 0,100
    std::size_t brokers = 1;          // per cluster: 2 or 3 put replicas behind the server (ack = "replica")
};

const std::string topic = "bench";


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
    // `key` and `server_key`: CURVE, when the cluster uses it (an empty key: plaintext).
    raw_sub(const std::string& endpoint, const std::string& prefix, int hwm, const curve_key_pair& key = {},
            const std::string& server_key = {})
        : _ctx(1), _sub(_ctx, zmq::socket_type::sub) {
        _sub.set(zmq::sockopt::linger, 0);
        _sub.set(zmq::sockopt::rcvhwm, hwm);
        _sub.set(zmq::sockopt::subscribe, prefix);
        if (!key.empty()) make_curve_client(_sub, key, server_key);
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

void add_note(outcome& out, std::uint64_t count, const std::string& what) {
    if (count == 0) return;
    if (!out.note.empty()) out.note += "; ";
    out.note += std::to_string(count) + " " + what;
}

outcome run_starbus(const options& o, const client_options& base, bool client_subscriber) {
    const cluster_config& cluster = base.cluster;
    client_options po = base;
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
        client subscriber(base);
        // With a bus log, messages are lost only as reported gaps (retention dropped them while we lagged).
        std::size_t gaps = 0;
        subscriber.on_event([&](const client_event& e) { gaps += std::holds_alternative<bus_gap>(e) ? 1 : 0; });
        subscriber.subscribe(topic);
        outcome out = run_pair(o, f, [&](milliseconds t) -> std::optional<char> {
            auto m = subscriber.next_message(t);
            if (!m || m->payload.empty()) return std::nullopt;
            return m->payload[0];
        });
        add_note(out, gaps, "gap event(s)");
        add_note(out, subscriber.dropped_messages(), "dropped by the client queue");
        return out;
    }
    raw_sub s(cluster.primary().publish_endpoint(), std::string(bus_prefix) + topic, o.hwm, base.key,
              cluster.primary().public_key);
    return run_pair(o, f, [&](milliseconds t) { return s.receive(t); });
}

// ---- one starbus cluster per bus retention ----

std::string retention_label(std::size_t retain_messages) {
    return retain_messages == 0 ? "no log" : "log " + std::to_string(retain_messages);
}

struct retention_cluster {
    std::size_t retain_messages = 0;
    bool curve = false;
    bool scraped = false;
    std::size_t brokers = 1;
    std::unique_ptr<bench_cluster> cluster;
};

std::string cluster_label(const retention_cluster& c) {
    return retention_label(c.retain_messages) + (c.curve ? ", curve" : "") + (c.scraped ? ", scraped" : "") +
           (c.brokers > 1 ? ", " + std::to_string(c.brokers) + " brokers" : "");
}

// Every cluster is started at once (they settle in parallel) and stays up for
// the whole run, so the runs of different retentions can be interleaved.
std::vector<retention_cluster> start_clusters(const options& o, const std::string& broker_path) {
    std::vector<retention_cluster> out;
    for (const auto& scrape : split_list(o.scrape)) {
    for (const auto& security : split_list(o.security)) {
    if (security != "none" && security != "curve")
        throw std::runtime_error("--security: \"" + security + "\" is not none or curve");
    for (const auto& item : split_list(o.retain)) {
        const unsigned long long n = std::stoull(item);
        if (n > 100000000) throw std::runtime_error("--retain: " + item + " is more than 100000000 messages");
        for (const auto& c : out)
            if (c.retain_messages == n && c.curve == (security == "curve") && c.scraped == (std::stoi(scrape) > 0))
                throw std::runtime_error("--retain: " + item + " is given twice");
        cluster_settings settings;
        settings.brokers = o.brokers;
        settings.heartbeat_ms = 100;
        // retain_bytes and retain_seconds keep their defaults (64 MiB, 1 h): the message count binds here.
        settings.extra = "\n[bus]\nretain_messages = " + std::to_string(n) + "\n";
        settings.curve = security == "curve";
        settings.scrape_ms = std::stoi(scrape);
        retention_cluster c;
        c.retain_messages = static_cast<std::size_t>(n);
        c.curve = settings.curve;
        c.scraped = settings.scrape_ms > 0;
        c.brokers = o.brokers;
        c.cluster = std::make_unique<bench_cluster>(broker_path, settings);
        c.cluster->start_all();
        // With replicas, a publish is acknowledged once one holds it (ack = "replica"): measure only once
        // every replica is synchronised.
        if (o.brokers > 1 && !c.cluster->wait_settled(0, std::chrono::seconds(60)))
            throw std::runtime_error("the " + std::to_string(o.brokers) + "-broker cluster did not settle in 60 s");
        out.push_back(std::move(c));
    }
    }
    }
    if (out.empty()) throw std::runtime_error("--retain: no retention given (e.g. 0,100000)");
    return out;
}

// One measured run of a repetition: a variant, on a cluster for starbus.
struct run_spec {
    std::string variant;
    std::size_t cluster = 0;  // index in the clusters (starbus variants)
    std::size_t retain_messages = 0;
    bool curve = false;
    bool scraped = false;
    std::string label;  // "raw", "starbus [log 100000]", ...
};

std::vector<run_spec> run_specs(const std::vector<std::string>& variants,
                                const std::vector<retention_cluster>& clusters) {
    std::vector<run_spec> out;
    for (const auto& v : variants) {
        if (v == "raw") {
            out.push_back({v, 0, 0, false, false, v});
            continue;
        }
        for (std::size_t i = 0; i < clusters.size(); ++i)
            out.push_back({v, i, clusters[i].retain_messages, clusters[i].curve, clusters[i].scraped,
                           v + " [" + cluster_label(clusters[i]) + "]"});
    }
    return out;
}

// Per run label, one entry per repetition.
struct figures {
    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, std::vector<double>> received;
};

// The same variant without a bus log, if it was measured.
const run_spec* without_log(const std::vector<run_spec>& specs, const run_spec& s) {
    for (const auto& o : specs)
        if (o.variant == s.variant && o.variant != "raw" && o.retain_messages == 0 && o.curve == s.curve &&
            o.scraped == s.scraped)
            return &o;
    return nullptr;
}

// The same variant and retention in plaintext, if it was measured.
const run_spec* without_curve(const std::vector<run_spec>& specs, const run_spec& s) {
    for (const auto& o : specs)
        if (o.variant == s.variant && o.retain_messages == s.retain_messages && !o.curve && o.scraped == s.scraped)
            return &o;
    return nullptr;
}

// The same variant, retention and security without a scraper, if it was measured.
const run_spec* without_scraper(const std::vector<run_spec>& specs, const run_spec& s) {
    for (const auto& o : specs)
        if (o.variant == s.variant && o.retain_messages == s.retain_messages && o.curve == s.curve && !o.scraped)
            return &o;
    return nullptr;
}

void print_summary(const std::vector<run_spec>& specs, figures& fig) {
    table sum({"run", "median msgs/s", "min", "max", "median received", "ratio vs raw", "ratio vs no log"});
    const double raw_median = summarize(fig.rates["raw"]).median;
    const auto ratio = [](double a, double b) { return a > 0 && b > 0 ? fmt(a / b, 2) : std::string("-"); };
    for (const auto& s : specs) {
        const summary m = summarize(fig.rates[s.label]);
        const run_spec* base = s.retain_messages > 0 ? without_log(specs, s) : nullptr;
        sum.add({s.label, fmt(m.median), fmt(m.min), fmt(m.max), fmt(summarize(fig.received[s.label]).median),
                 ratio(m.median, raw_median), base ? ratio(m.median, summarize(fig.rates[base->label]).median) : ""});
    }
    sum.print();
    std::cout << "\n";
    for (const auto& s : specs) {
        if (s.variant == "raw") continue;
        const summary m = summarize(fig.rates[s.label]);
        std::cout << "bus: " << s.label << " " << fmt(m.median) << " msg/s (median of " << m.count << ", " << fmt(m.min)
                  << "-" << fmt(m.max) << ")";
        if (raw_median <= 0) {
            std::cout << ", raw proxy not measured: no ratio\n";
            continue;
        }
        const double r = m.median / raw_median;
        std::cout << ", raw proxy " << fmt(raw_median) << " msg/s, ratio " << fmt(r, 2)
                  << " (target >= 0.50: " << (r >= 0.5 ? "met" : "MISSED") << ")\n";
    }
    // The cost of CURVE: the same variant and retention with and without it.
    for (const auto& s : specs) {
        const run_spec* base = s.curve ? without_curve(specs, s) : nullptr;
        if (!base) continue;
        const double with = summarize(fig.rates[s.label]).median, without = summarize(fig.rates[base->label]).median;
        std::cout << "bus: CURVE cost, " << s.variant << " " << retention_label(s.retain_messages) << ": " << fmt(with)
                  << " msg/s vs plaintext " << fmt(without) << " msg/s, ratio " << ratio(with, without)
                  << " (goal >= 0.50: " << (with >= 0.5 * without ? "met" : "MISSED") << ")\n";
    }
    // The cost of a scraper polling every broker's /metrics: the same run with and without it.
    for (const auto& s : specs) {
        const run_spec* base = s.scraped ? without_scraper(specs, s) : nullptr;
        if (!base) continue;
        const double with = summarize(fig.rates[s.label]).median, without = summarize(fig.rates[base->label]).median;
        std::cout << "bus: scraper cost, " << s.label << ": " << fmt(with) << " msg/s vs unscraped " << fmt(without)
                  << " msg/s, ratio " << ratio(with, without) << "\n";
    }
    // The cost of the retained log: the same variant with and without it.
    for (const auto& s : specs) {
        const run_spec* base = s.retain_messages > 0 ? without_log(specs, s) : nullptr;
        if (!base) continue;
        const double with = summarize(fig.rates[s.label]).median, without = summarize(fig.rates[base->label]).median;
        std::cout << "bus: retained-log cost, " << s.variant << ": " << retention_label(s.retain_messages) << " "
                  << fmt(with) << " msg/s vs no log " << fmt(without) << " msg/s, ratio " << ratio(with, without)
                  << "\n";
    }
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

    const std::vector<retention_cluster> clusters = start_clusters(o, broker_path);
    std::cout << "starbus-bench-bus: " << o.messages << " messages of " << o.payload << " bytes, window " << o.window
              << ", HWM " << o.hwm << ", " << o.reps << " repetitions\n";
    for (const auto& c : clusters)
        std::cout << "cluster [" << cluster_label(c) << "]: " << c.cluster->describe()
                  << ", [bus] retain_messages = " << c.retain_messages << "\n";
    std::cout << "raw proxy process at " << xsub_ep << " -> " << xpub_ep << "\n";
    for (const auto& c : clusters)
        if (!c.cluster->wait_settled(0, std::chrono::seconds(30))) {
            std::cerr << "the broker did not become active within 30 s:\n" << c.cluster->log_tail();
            return 1;
        }

    const std::vector<run_spec> specs = run_specs(variants, clusters);
    figures fig;
    table runs({"rep", "run", "received", "lost", "seconds", "msgs/s", "publisher msgs/s", "note"});
    for (int rep = 0; rep < o.reps; ++rep) {
        for (std::size_t k = 0; k < specs.size(); ++k) {
            const run_spec& spec = specs[(k + static_cast<std::size_t>(rep)) % specs.size()];
            const outcome r = spec.variant == "raw"
                                  ? run_raw(o, xsub_ep, xpub_ep)
                                  : run_starbus(o, clusters[spec.cluster].cluster->options(), spec.variant == "starbus");
            fig.rates[spec.label].push_back(r.rate());
            fig.received[spec.label].push_back(static_cast<double>(r.received));
            runs.add({std::to_string(rep + 1), spec.label, std::to_string(r.received),
                      std::to_string(o.messages - r.received), fmt(r.seconds, 3), fmt(r.rate()),
                      fmt(r.publish_seconds > 0 ? static_cast<double>(o.messages) / r.publish_seconds : 0), r.note});
            std::cout << "  rep " << rep + 1 << " " << spec.label << ": " << fmt(r.rate()) << " msgs/s (" << r.received
                      << " received)" << (r.note.empty() ? "" : " [" + r.note + "]") << "\n"
                      << std::flush;
        }
    }
    std::cout << "\n";
    runs.print();
    std::cout << "\n";
    print_summary(specs, fig);
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
    app.add_option("--scrape", o.scrape,
                   "ms between GETs of the broker's /metrics, a list: 0 (no scraper), 100, or 0,100 (each retention "
                   "on a cluster of each)");
    app.add_option("--security", o.security, "none, curve, or none,curve (each retention on a cluster of each)");
    app.add_option("--brokers", o.brokers,
                   "brokers per cluster: 1 (the server alone) or 2-3 (replicas behind it, ack = \"replica\")")
        ->check(CLI::Range(1, 3));
    app.add_option("--retain", o.retain,
                   "comma-separated [bus] retain_messages, one 1-broker cluster each (0: no bus log)");
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    bool proxy_mode = false;
    std::string xsub, xpub;
    app.add_flag("--serve-proxy", proxy_mode, "internal: be the raw proxy process")->group("");
    app.add_option("--xsub", xsub, "internal")->group("");
    app.add_option("--xpub", xpub, "internal")->group("");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-bus", [&] {
        if (proxy_mode) return serve_pubsub_proxy(xsub, xpub, o.hwm);
        return run(o);
    });
}
