// File: control.cpp
// Queries from the control host (see control.hpp).
#include "control.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

namespace starbus::chaos {

namespace {
// Beyond the command's own --timeout-ms: process start-up on a loaded machine.
constexpr std::chrono::milliseconds slack{10000};
}  // namespace

control::control(std::string netns, std::string cli_program, std::string worker_program, std::string cluster_file)
    : _netns(std::move(netns)),
      _cli(std::move(cli_program)),
      _worker(std::move(worker_program)),
      _cluster_file(std::move(cluster_file)) {}

command_result control::cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {"ip",          "netns",        "exec",
                                     _netns,        _cli,           "--cluster",
                                     _cluster_file, "--timeout-ms", std::to_string(timeout.count())};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout + slack);
}

std::optional<std::vector<broker_role>> control::status(std::chrono::milliseconds timeout) {
    const command_result r = cli({"status", "--json"}, timeout);
    if (r.exit_code != 0) return std::nullopt;
    return parse_status_json(r.out);
}

replica_state control::dump_from(const std::string& name, std::chrono::milliseconds timeout,
                                 const std::string& save_as) {
    replica_state s;
    s.broker = name;
    const command_result r = cli({"dump", "--json", "--from", name}, timeout);
    if (r.exit_code != 0) {
        s.error = "starbus dump --from " + name + " exited " + std::to_string(r.exit_code) + ": " + r.err;
        return s;
    }
    if (!save_as.empty()) std::ofstream(save_as) << r.out;
    if (!parse_dump_json(r.out, s)) return s;
    const command_result w = run_command({"ip", "netns", "exec", _netns, _worker, "dump", "--cluster", _cluster_file,
                                          "--from", name, "--timeout-ms", std::to_string(timeout.count())},
                                         timeout + slack);
    if (w.exit_code == 0) enrich_from_worker_dump(w.out, s);
    return s;
}

probe_result control::probe(const std::string& key, const std::string& value, bool config,
                            std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {
        "ip",          "netns", "exec", _netns,    _worker, "probe",        "--cluster",
        _cluster_file, "--key", key,    "--value", value,   "--timeout-ms", std::to_string(timeout.count())};
    if (config) argv.push_back("--config");
    const command_result r = run_command(argv, timeout + slack);
    probe_result p;
    try {
        const auto j = nlohmann::json::parse(r.out);
        p.status = j.at("status");
        p.server = j.value("server", "");
        p.epoch = j.value("epoch", std::uint64_t{0});
        p.seq = j.value("seq", std::uint64_t{0});
        p.message = j.value("message", "");
        p.ok = p.status == "ok";
    } catch (const std::exception&) {
        p.status = "error";
        p.message = "probe exited " + std::to_string(r.exit_code) + ": " + r.err;
    }
    return p;
}

}  // namespace starbus::chaos
