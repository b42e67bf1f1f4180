// File: network_faults.cpp
// Partitions with blackhole routes and link shaping with netem or the relay
// (see network_faults.hpp).
#include "network_faults.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

namespace starbus::chaos {

namespace {

using namespace std::chrono_literals;

constexpr auto cmd_timeout = 10s;
const std::string net_advice = "the run's namespaces may have been removed under it";

std::string relay_port(const host& h) { return "r-" + h.name; }   // the relay's side of the splice
std::string bridge_port(const host& h) { return "q-" + h.name; }  // the bridge's side of the splice

bool file_contains(const std::string& path, const std::string& needle) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str().find(needle) != std::string::npos;
}

std::vector<std::string> netem_args(const shaping& s) {
    std::vector<std::string> a = {"netem", "delay", std::to_string(s.delay_ms) + "ms"};
    if (s.jitter_ms > 0) a.push_back(std::to_string(s.jitter_ms) + "ms");
    if (s.loss_pct > 0) a.insert(a.end(), {"loss", std::to_string(s.loss_pct) + "%"});
    return a;
}

}  // namespace

std::string_view to_string(shaper_kind k) { return k == shaper_kind::netem ? "netem" : "relay"; }

bool netem_available(const std::string& netns) {
    if (run_command({"ip", "-n", netns, "link", "add", "t-probe", "type", "veth", "peer", "name", "t-probe2"},
                    cmd_timeout)
            .exit_code != 0)
        return false;
    const bool ok =
        run_command({"tc", "-n", netns, "qdisc", "add", "dev", "t-probe", "root", "netem", "delay", "1ms"}, cmd_timeout)
            .exit_code == 0;
    (void)run_command({"ip", "-n", netns, "link", "del", "t-probe"}, cmd_timeout);
    return ok;
}

network_faults::network_faults(const topology& net, shaper_kind kind, std::string relay_program, std::string log_dir)
    : _net(net), _kind(kind), _relay_program(std::move(relay_program)), _log_dir(std::move(log_dir)) {}

network_faults::~network_faults() { (void)heal_all(); }

void network_faults::routes(const std::string& verb, const std::vector<std::size_t>& a,
                            const std::vector<std::size_t>& b) {
    // One `ip -batch` per host: a blackhole route for each address across the cut.
    auto apply = [&](const std::vector<std::size_t>& from, const std::vector<std::size_t>& to) {
        for (auto h : from) {
            std::string script;
            for (auto t : to) script += "route " + verb + " blackhole " + _net.at(t).address + "/32\n";
            if (script.empty()) continue;
            std::vector<std::string> argv = {"ip", "-n", _net.at(h).netns};
            if (verb == "del") argv.push_back("-force");  // remove what is there, whatever is not
            argv.insert(argv.end(), {"-batch", "-"});
            const auto r = run_command(argv, cmd_timeout, script);
            if (r.exit_code != 0 && verb == "add")
                throw harness_error("cannot add partition routes in " + _net.at(h).netns + ": " + r.err + "; " +
                                    net_advice);
        }
    };
    apply(a, b);
    apply(b, a);
}

void network_faults::partition(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    heal_partition();
    _cut_a = a;
    _cut_b = b;
    routes("add", a, b);
}

void network_faults::heal_partition() {
    if (_cut_a.empty() && _cut_b.empty()) return;
    routes("del", _cut_a, _cut_b);
    _cut_a.clear();
    _cut_b.clear();
}

void network_faults::shape(std::size_t index, const shaping& s) {
    unshape(index);
    const host& h = _net.at(index);
    const std::string& sw = _net.switch_netns();
    if (_kind == shaper_kind::netem) {
        // Both ends of the host's veth: its own egress, and the switch port's egress towards it.
        std::vector<std::string> in_host = {"tc", "-n", h.netns, "qdisc", "add", "dev", topology::host_if, "root"};
        std::vector<std::string> at_switch = {"tc", "-n", sw, "qdisc", "add", "dev", h.port, "root"};
        for (const auto& a : netem_args(s)) {
            in_host.push_back(a);
            at_switch.push_back(a);
        }
        _netem_hosts.push_back(index);
        must_run(in_host, cmd_timeout, net_advice);
        must_run(at_switch, cmd_timeout, net_advice);
        return;
    }
    // The relay: host port off the bridge, a fresh veth pair onto it, the relay between.
    must_run({"ip", "-n", sw, "link", "add", relay_port(h), "type", "veth", "peer", "name", bridge_port(h)},
             cmd_timeout, net_advice);
    auto relay = std::make_unique<ns_process>();
    _relays[index] = nullptr;  // from here on unshape() undoes the splice
    must_run({"ip", "-n", sw, "link", "set", bridge_port(h), "master", topology::bridge, "up"}, cmd_timeout,
             net_advice);
    must_run({"ip", "-n", sw, "link", "set", relay_port(h), "up"}, cmd_timeout, net_advice);
    must_run({"ip", "-n", sw, "link", "set", h.port, "nomaster"}, cmd_timeout, net_advice);
    const std::string log = _log_dir + "/relay-" + h.name + ".log";
    relay->start(sw,
                 {_relay_program, "--outer", h.port, "--inner", relay_port(h), "--delay-ms", std::to_string(s.delay_ms),
                  "--jitter-ms", std::to_string(s.jitter_ms), "--loss-pct", std::to_string(s.loss_pct), "--seed",
                  std::to_string(s.seed)},
                 log);
    _relays[index] = std::move(relay);
    // Ready once it has opened both sockets and said so; bounded.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    const std::string ready = "relay " + h.port + " <-> ";
    while (!file_contains(log, ready)) {
        if (!_relays[index]->running())
            throw harness_error("starbus-chaos-relay for " + h.name + " exited at start: see " + log);
        if (std::chrono::steady_clock::now() > deadline)
            throw harness_error("starbus-chaos-relay for " + h.name + " did not start within 5 s: see " + log);
        std::this_thread::sleep_for(10ms);
    }
}

void network_faults::unshape(std::size_t index) {
    const host& h = _net.at(index);
    const std::string& sw = _net.switch_netns();
    if (auto it = std::find(_netem_hosts.begin(), _netem_hosts.end(), index); it != _netem_hosts.end()) {
        _netem_hosts.erase(it);
        (void)run_command({"tc", "-n", h.netns, "qdisc", "del", "dev", topology::host_if, "root"}, cmd_timeout);
        (void)run_command({"tc", "-n", sw, "qdisc", "del", "dev", h.port, "root"}, cmd_timeout);
    }
    if (auto it = _relays.find(index); it != _relays.end()) {
        if (it->second) it->second->stop_gently(2s);
        _relays.erase(it);
        (void)run_command({"ip", "-n", sw, "link", "set", h.port, "master", topology::bridge}, cmd_timeout);
        (void)run_command({"ip", "-n", sw, "link", "del", relay_port(h)}, cmd_timeout);
    }
}

std::vector<std::string> network_faults::heal_all() noexcept {
    std::vector<std::string> problems;
    try {
        heal_partition();
    } catch (const std::exception& e) {
        problems.push_back(std::string("healing the partition: ") + e.what());
    }
    std::vector<std::size_t> shaped = _netem_hosts;
    for (const auto& [h, r] : _relays) shaped.push_back(h);
    for (auto h : shaped) {
        try {
            unshape(h);
        } catch (const std::exception& e) {
            problems.push_back(std::string("removing the shaping of ") + _net.at(h).name + ": " + e.what());
        }
    }
    return problems;
}

}  // namespace starbus::chaos
