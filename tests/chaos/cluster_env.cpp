// File: cluster_env.cpp
// Building and tearing down a chaos run's world (see cluster_env.hpp).
#include "cluster_env.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>

#include "rng.hpp"

namespace starbus::chaos {

namespace {

// Appended, not "c" + ...: GCC 12 at -O3 warns on that (-Wrestrict, a false positive).
std::string worker_name(std::size_t i) { return std::string("c").append(std::to_string(i + 1)); }
std::string subscriber_name(std::size_t i) { return std::string("s").append(std::to_string(i + 1)); }
std::string monitor_name(std::size_t i) { return std::string("m").append(std::to_string(i + 1)); }
const char* control_name = "ctl";

}  // namespace

cluster_env::cluster_env(const env_options& o)
    : _o(o), _tag("r" + std::to_string(o.seed) + "-" + std::to_string(::getpid())), _events(o.quiet) {
    if (_o.brokers < 1 || _o.brokers > 26) throw harness_error("--brokers must be 1 to 26");
    for (const char* p : {"starbus-broker", "starbus", "starbus-chaos-worker", "starbus-chaos-relay"})
        if (::access(program(p).c_str(), X_OK) != 0)
            throw harness_error(program(p) +
                                " is missing: build the chaos targets first (cmake --build build "
                                "--target starbus-chaos), or pass --bin-dir");
    std::error_code ec;
    std::filesystem::create_directories(_o.run_dir, ec);
    if (ec) throw harness_error("cannot create the run directory " + _o.run_dir.string() + ": " + ec.message());
    _cluster_file = _o.run_dir / "cluster.toml";

    for (std::size_t i = 0; i < _o.brokers; ++i) _host_names.push_back(std::string(1, static_cast<char>('A' + i)));
    for (std::size_t i = 0; i < _o.workers; ++i) _host_names.push_back(worker_name(i));
    for (std::size_t i = 0; i < _o.subscribers; ++i) _host_names.push_back(subscriber_name(i));
    std::vector<std::string> all = _host_names;
    for (std::size_t i = 0; i < _o.monitors; ++i) all.push_back(monitor_name(i));
    all.push_back(control_name);

    _events.add("run " + _tag + ": building " + std::to_string(all.size()) + " hosts in namespaces " +
                topology::run_prefix() + "-*, run directory " + _o.run_dir.string());
    _net = std::make_unique<topology>(all);
    for (std::size_t i = 0; i < _o.brokers; ++i)
        _disks.push_back(std::make_unique<data_disk>(_o.run_dir / ("disk-" + broker_name(i)),
                                                     topology::run_prefix() + "-" + broker_name(i), _o.disk_mb));
    write_cluster_file();

    shaper_kind kind = shaper_kind::relay;
    if (_o.shaper == "netem") kind = shaper_kind::netem;
    else if (_o.shaper == "auto" && netem_available(_net->switch_netns())) kind = shaper_kind::netem;
    if (_o.shaper == "netem" && !netem_available(_net->switch_netns()))
        throw harness_error(
            "--shaper netem: this kernel has no sch_netem (tc says the qdisc kind is unknown); "
            "use --shaper relay or auto");
    _events.add(std::string("link shaping with ") + std::string(to_string(kind)) +
                (kind == shaper_kind::relay ? " (this kernel has no sch_netem)" : ""));
    _network = std::make_unique<network_faults>(*_net, kind, program("starbus-chaos-relay"), _o.run_dir.string());

    std::vector<broker_spec> specs;
    for (std::size_t i = 0; i < _o.brokers; ++i)
        specs.push_back({broker_name(i), _net->at(i).netns, _disks[i]->data_dir(), broker_log(i)});
    _fleet =
        std::make_unique<broker_fleet>(std::move(specs), program("starbus-broker"), _cluster_file.string(), _events);
    _control = std::make_unique<control>(_net->by_name(control_name).netns, program("starbus"),
                                         program("starbus-chaos-worker"), _cluster_file.string());
    for (std::size_t i = 0; i < _o.monitors; ++i)
        _monitors.push_back(std::make_unique<control>(_net->by_name(monitor_name(i)).netns, program("starbus"),
                                                      program("starbus-chaos-worker"), _cluster_file.string()));
}

cluster_env::~cluster_env() {
    // Clients first, then brokers, then the network and disks (members in reverse).
    for (auto& w : _workers) w.kill_now();
    for (auto& s : _subscribers) s.kill_now();
    if (_fleet) _fleet->kill_all();
    if (_network) (void)_network->heal_all();
}

std::string cluster_env::program(const char* name) const { return (_o.bin_dir / name).string(); }

std::string cluster_env::broker_log(std::size_t i) const { return (_o.run_dir / (broker_name(i) + ".log")).string(); }

void cluster_env::write_cluster_file() const {
    std::ofstream f(_cluster_file);
    f << "# Written by starbus-chaos for run " << _tag << "\n"
      << "heartbeat_ms = " << _o.heartbeat_ms << "\n"
      << "ack = \"" << _o.ack << "\"\n";
    for (std::size_t i = 0; i < _o.brokers; ++i)
        f << "\n[[broker]]\nname = \"" << broker_name(i) << "\"\nendpoint = \"tcp://" << _net->at(i).address
          << ":5670\"\n";
    if (!f) throw harness_error("cannot write " + _cluster_file.string());
}

std::vector<std::string> cluster_env::history_paths() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < _o.workers; ++i)
        out.push_back((_o.run_dir / ("history-" + worker_name(i) + ".jsonl")).string());
    for (std::size_t i = 0; i < _o.subscribers; ++i)
        out.push_back((_o.run_dir / ("history-" + subscriber_name(i) + ".jsonl")).string());
    return out;
}

void cluster_env::start_load() {
    const rng seeds(_o.seed);
    for (std::size_t i = 0; i < _o.workers; ++i) {
        const std::string name = worker_name(i);
        ns_process p;
        p.start(_net->by_name(name).netns,
                {program("starbus-chaos-worker"),
                 "load",
                 "--cluster",
                 _cluster_file.string(),
                 "--name",
                 name,
                 "--history",
                 (_o.run_dir / ("history-" + name + ".jsonl")).string(),
                 "--seed",
                 std::to_string(seeds.fork(100 + i).next() >> 1),
                 "--rate",
                 std::to_string(_o.rate),
                 "--tag",
                 _tag,
                 "--op-timeout-ms",
                 std::to_string(_o.op_timeout_ms),
                 "--weight-op",
                 std::to_string(_o.weight_op),
                 "--weight-config",
                 std::to_string(_o.weight_config),
                 "--weight-publish",
                 std::to_string(_o.weight_publish)},
                (_o.run_dir / ("worker-" + name + ".log")).string());
        _workers.push_back(std::move(p));
        _worker_reported.push_back(false);
    }
    _events.add("started " + std::to_string(_o.workers) + " load workers at " + std::to_string(_o.rate) +
                " operations/s each");
}

ns_process cluster_env::start_watch(const std::filesystem::path& samples, std::chrono::milliseconds every) const {
    ns_process p;
    p.start(_net->by_name(control_name).netns,
            {program("starbus-chaos-worker"), "watch", "--cluster", _cluster_file.string(), "--name", control_name,
             "--samples", samples.string(), "--every-ms", std::to_string(every.count()), "--timeout-ms",
             std::to_string(std::max<std::int64_t>(every.count() * 5, 500))},
            (_o.run_dir / "worker-watch.log").string());
    return p;
}

void cluster_env::start_subscribers() {
    for (std::size_t i = 0; i < _o.subscribers; ++i) {
        const std::string name = subscriber_name(i);
        ns_process p;
        p.start(_net->by_name(name).netns,
                {program("starbus-chaos-worker"), "subscribe", "--cluster", _cluster_file.string(), "--name", name,
                 "--history", (_o.run_dir / ("history-" + name + ".jsonl")).string()},
                (_o.run_dir / ("worker-" + name + ".log")).string());
        _subscribers.push_back(std::move(p));
        _subscriber_reported.push_back(false);
    }
    if (_o.subscribers) _events.add("started " + std::to_string(_o.subscribers) + " subscribers");
}

namespace {

void stop_all(std::vector<ns_process>& ps, const char* what, std::chrono::milliseconds grace, timeline& events) {
    for (auto& p : ps) {
        p.signal(SIGCONT);
        p.signal(SIGTERM);
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    std::size_t killed = 0;
    for (auto& p : ps) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (!p.wait_exit(std::max(left, std::chrono::milliseconds(0)))) {
            p.kill_now();
            ++killed;
        }
    }
    if (killed)
        events.add(std::to_string(killed) + " " + what + " did not stop within " + std::to_string(grace.count()) +
                   " ms and were killed (their last operation counts as unknown)");
}

}  // namespace

void cluster_env::stop_load(std::chrono::milliseconds grace) {
    // Exits from here on are asked for: dead_clients() does not report them.
    std::fill(_worker_reported.begin(), _worker_reported.end(), true);
    stop_all(_workers, "load workers", grace, _events);
    _events.add("load workers stopped");
}

void cluster_env::stop_subscribers(std::chrono::milliseconds grace) {
    std::fill(_subscriber_reported.begin(), _subscriber_reported.end(), true);
    stop_all(_subscribers, "subscribers", grace, _events);
    if (!_subscribers.empty()) _events.add("subscribers stopped");
}

std::vector<std::string> cluster_env::dead_clients() {
    std::vector<std::string> out;
    auto scan = [&](std::vector<ns_process>& ps, std::vector<bool>& reported, auto name_of) {
        for (std::size_t i = 0; i < ps.size(); ++i) {
            if (reported[i] || ps[i].running()) continue;
            reported[i] = true;
            out.push_back(name_of(i) + " exited on its own (" +
                          (ps[i].last_status() ? describe_status(*ps[i].last_status()) : std::string("?")) + "): see " +
                          (_o.run_dir / ("worker-" + name_of(i) + ".log")).string());
        }
    };
    scan(_workers, _worker_reported, worker_name);
    scan(_subscribers, _subscriber_reported, subscriber_name);
    _client_failures.insert(_client_failures.end(), out.begin(), out.end());
    return out;
}

}  // namespace starbus::chaos
