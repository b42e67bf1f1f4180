// File: cluster_harness.hpp
// A real starbus cluster for multi-process tests: N starbus-broker processes
// on a random loopback address, a cluster file, data directories that clean
// themselves, and the `starbus` CLI to drive and observe it. Brokers are
// killed for real (SIGKILL) and restarted on the same data directory.
#pragma once

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <starbus/client/client_options.hpp>
#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

#include <cstdlib>

#include "process.hpp"
#include "testutil.hpp"

#ifndef STARBUS_BIN_DIR
#error "STARBUS_BIN_DIR must name the directory holding starbus-broker and starbus"
#endif

// REQUIRE that prints every broker's log tail when it fails (INFO would
// capture the logs when declared, before anything happened).
#define REQUIRE_WITH_LOGS(cluster, expr)        \
    do {                                        \
        const bool ok_ = (expr);                \
        if (!ok_) FAIL_CHECK((cluster).logs()); \
        REQUIRE(ok_);                           \
    } while (0)

namespace starbus::test {

// Where starbus-broker and starbus are: STARBUS_TEST_BIN_DIR when set (so that the sanitizer runs start
// instrumented brokers from this same test program), else the build's own bin/.
inline std::string bin_dir() {
    const char* dir = std::getenv("STARBUS_TEST_BIN_DIR");
    return dir && *dir ? std::string(dir) : std::string(STARBUS_BIN_DIR);
}

// How a test cluster is secured: plaintext, or CURVE with keys made for every broker and for the clients
// "admin", "writer" and "reader" (in the access list with those roles) and "stranger" (not in it).
enum class test_security { none, curve };

class test_cluster {
  public:
    // `extra` is appended to the cluster file's top level (e.g. "ack = \"all\"\n").
    explicit test_cluster(std::size_t brokers, int heartbeat_ms = 50, const std::string& extra = {},
                          test_security security = test_security::none)
        : _host(random_loopback_host()), _base_port(random_base_port()), _heartbeat_ms(heartbeat_ms),
          _extra(extra), _curve(security == test_security::curve) {
        for (std::size_t i = 0; i < brokers; ++i) _names.push_back(std::string(1, static_cast<char>('A' + i)));
        if (_curve)
            for (const auto& n : _names) make_key(n);
        if (_curve)
            for (const char* n : {"admin", "writer", "reader", "stranger"}) make_key(n);
        write_cluster_file();
        _procs.resize(brokers);
    }

    // Writes the cluster file (again: after a broker's key was replaced).
    void write_cluster_file() {
        std::ofstream f(cluster_file());
        f << "heartbeat_ms = " << _heartbeat_ms << "\n" << _extra;
        if (_curve) {
            f << "\n[security]\nmode = \"curve\"\n";
            for (const char* n : {"admin", "writer", "reader"})
                f << "\n[[client]]\nname = \"" << n << "\"\nrole = \"" << n << "\"\npublic_key = \""
                  << _keys.at(n).public_key << "\"\n";
        }
        for (std::size_t i = 0; i < _names.size(); ++i) {
            f << "\n[[broker]]\nname = \"" << _names[i] << "\"\nendpoint = \"tcp://" << _host << ":"
              << (_base_port + 10 * static_cast<int>(i)) << "\"\n";
            if (_curve) f << "public_key = \"" << _keys.at(_names[i]).public_key << "\"\n";
            if (_http) f << "http = \"" << _host << ":" << http_port(i) << "\"\n";
        }
    }

    // Gives every broker an HTTP endpoint (http in its [[broker]] table) at http_url(i); rewrites the file.
    void enable_http() {
        _http = true;
        write_cluster_file();
    }
    [[nodiscard]] int http_port(std::size_t i) const { return _base_port + 10 * static_cast<int>(i) + 5; }
    [[nodiscard]] const std::string& host() const { return _host; }

    // CURVE: a new key pair for `name` (a broker, a client or a stranger), written to NAME.key and NAME.pub
    // in the cluster's directory (replacing any before). The cluster file is not rewritten.
    const curve_key_pair& make_key(const std::string& name) {
        const curve_key_pair k = generate_curve_key_pair();
        (void)write_key_files(_dir.path(), name, k, true);
        return _keys[name] = k;
    }
    [[nodiscard]] const curve_key_pair& key(const std::string& name) const { return _keys.at(name); }
    [[nodiscard]] std::string key_file(const std::string& name) const { return (_dir.path() / (name + ".key")).string(); }
    [[nodiscard]] std::string pub_file(const std::string& name) const { return (_dir.path() / (name + ".pub")).string(); }
    [[nodiscard]] bool curve() const { return _curve; }
    // Whose key cli() uses on a CURVE cluster ("" for none).
    void use_key(const std::string& name) { _cli_key = name; }

    [[nodiscard]] std::string cluster_file() const { return (_dir.path() / "cluster.toml").string(); }
    [[nodiscard]] const std::vector<std::string>& names() const { return _names; }
    [[nodiscard]] std::string log_path(std::size_t i) const { return (_dir.path() / (_names[i] + ".log")).string(); }
    [[nodiscard]] std::string data_dir(std::size_t i) const { return (_dir.path() / ("data-" + _names[i])).string(); }

    void start(std::size_t i) {
        std::vector<std::string> argv = {bin_dir() + "/starbus-broker", "--cluster", cluster_file(), "--name",
                                         _names[i], "--data-dir", data_dir(i)};
        if (_curve) argv.insert(argv.end(), {"--key", key_file(_names[i])});
        _procs[i].start(argv, log_path(i));
    }
    void start_all() {
        for (std::size_t i = 0; i < _names.size(); ++i) start(i);
    }
    // A crash: SIGKILL, no chance to flush anything.
    void kill(std::size_t i) { _procs[i].kill_now(); }
    // A polite stop: SIGTERM; returns the exit status (nullopt if it hung).
    std::optional<int> stop(std::size_t i) {
        _procs[i].signal(SIGTERM);
        return _procs[i].wait_exit(std::chrono::seconds(10));
    }
    // SIGSTOP, and waits (at most 5 s) until the kernel shows the process stopped: kill() returns before the
    // stop takes effect, and a thread running on the other core may still answer a request meanwhile.
    void freeze(std::size_t i) {
        _procs[i].signal(SIGSTOP);
        const std::string stat = "/proc/" + std::to_string(_procs[i].pid()) + "/stat";
        (void)wait_until(
            [&] {
                std::ifstream f(stat);
                std::string line;
                std::getline(f, line);
                const auto close = line.rfind(')');  // "PID (COMM) STATE ...": COMM may hold spaces
                return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T';
            },
            std::chrono::milliseconds(5000), std::chrono::milliseconds(1));
    }
    void thaw(std::size_t i) { _procs[i].signal(SIGCONT); }
    [[nodiscard]] bool running(std::size_t i) { return _procs[i].running(); }
    [[nodiscard]] pid_t pid_of(std::size_t i) const { return _procs[i].pid(); }

    // Runs `starbus --cluster FILE --timeout-ms T ARGS...`.
    // On a CURVE cluster with the key use_key() named (the admin's unless changed).
    run_result cli(const std::vector<std::string>& args, int timeout_ms = 5000, const std::string& input = {}) {
        return cli_as(_curve ? _cli_key : std::string{}, args, timeout_ms, input);
    }
    // With the key of `who` ("": no --key).
    run_result cli_as(const std::string& who, const std::vector<std::string>& args, int timeout_ms = 5000,
                      const std::string& input = {}) {
        std::vector<std::string> argv = {bin_dir() + "/starbus", "--cluster", cluster_file(),
                                         "--timeout-ms", std::to_string(timeout_ms)};
        if (!who.empty()) argv.insert(argv.end(), {"--key", key_file(who)});
        argv.insert(argv.end(), args.begin(), args.end());
        return run_program(argv, std::chrono::milliseconds(timeout_ms + 10000), input);
    }

    // name -> role, from `starbus status --json` (empty when it failed).
    std::map<std::string, std::string> roles() {
        std::map<std::string, std::string> out;
        run_result r = cli({"status", "--json"}, 1000);
        if (r.exit_code != 0) return out;
        try {
            for (const auto& b : nlohmann::json::parse(r.out)) out[b.at("name")] = b.at("role");
        } catch (const std::exception&) {
        }
        return out;
    }

    // Waits until broker `name` has `role`; a `set` of a probe key on every try
    // when `vote` is set (a backup takes over only when a client asks).
    bool wait_role(const std::string& name, const std::string& role, std::chrono::milliseconds timeout,
                   bool vote = true) {
        return wait_until(
            [&] {
                if (vote) cli({"set", "harness.probe", "x"}, 500);
                return roles()[name] == role;
            },
            timeout, std::chrono::milliseconds(50));
    }

    // Waits until exactly `name` is active and every other listed broker is passive.
    bool wait_settled(const std::string& active, const std::vector<std::string>& passives,
                      std::chrono::milliseconds timeout) {
        return wait_until(
            [&] {
                cli({"set", "harness.probe", "x"}, 500);
                auto r = roles();
                if (r[active] != "active") return false;
                for (const auto& p : passives)
                    if (r[p] != "passive") return false;
                return true;
            },
            timeout, std::chrono::milliseconds(50));
    }

    // key -> value from `starbus dump --json [--from NAME]`; nullopt if it failed.
    std::optional<std::map<std::string, std::string>> dump(const std::string& from = {}) {
        std::vector<std::string> args = {"dump", "--json"};
        if (!from.empty()) args.insert(args.end(), {"--from", from});
        run_result r = cli(args, 3000);
        if (r.exit_code != 0) return std::nullopt;
        std::map<std::string, std::string> out;
        try {
            const nlohmann::json doc = nlohmann::json::parse(r.out);  // named: .at() of a temporary would dangle
            for (const auto& e : doc.at("entries")) out[e.at("key").get<std::string>()] = e.at("value").get<std::string>();
        } catch (const std::exception&) {
            return std::nullopt;
        }
        return out;
    }

    // path -> SHA-256 from `starbus ls --json [--from NAME]`; nullopt if it failed.
    std::optional<std::map<std::string, std::string>> files(const std::string& from = {}) {
        std::vector<std::string> args = {"ls", "--json"};
        if (!from.empty()) args.insert(args.end(), {"--from", from});
        run_result r = cli(args, 3000);
        if (r.exit_code != 0) return std::nullopt;
        std::map<std::string, std::string> out;
        try {
            const nlohmann::json doc = nlohmann::json::parse(r.out);
            for (const auto& e : doc) out[e.at("path").get<std::string>()] = e.at("hash").get<std::string>();
        } catch (const std::exception&) {
            return std::nullopt;
        }
        return out;
    }

    // The peak resident memory of broker i so far (VmHWM), in KiB; 0 if unknown.
    long broker_peak_rss_kib(std::size_t i) {
        std::ifstream f("/proc/" + std::to_string(_procs[i].pid()) + "/status");
        for (std::string line; std::getline(f, line);)
            if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
        return 0;
    }

    [[nodiscard]] const std::filesystem::path& directory() const { return _dir.path(); }

    // Everything broker i has logged so far (all its runs).
    [[nodiscard]] std::string log_of(std::size_t i) const {
        std::ifstream f(log_path(i));
        return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    }

    // The last lines of every broker's log, for a failure message.
    std::string logs() const {
        std::string all;
        for (std::size_t i = 0; i < _names.size(); ++i) {
            std::ifstream f(log_path(i));
            std::vector<std::string> lines;
            for (std::string line; std::getline(f, line);) lines.push_back(line);
            all += "---- " + _names[i] + " ----\n";
            for (std::size_t k = lines.size() > 40 ? lines.size() - 40 : 0; k < lines.size(); ++k)
                all += lines[k] + "\n";
        }
        return all;
    }

  private:
    temp_dir _dir;
    std::string _host;
    int _base_port;
    int _heartbeat_ms;
    std::string _extra;
    bool _curve;
    bool _http = false;
    std::map<std::string, curve_key_pair> _keys;
    std::string _cli_key = "admin";
    std::vector<std::string> _names;
    std::vector<child_process> _procs;
};

// Options for a client of cluster c, with the library's defaults otherwise; on a CURVE cluster with the
// key of `who`.
inline client_options client_options_for(const test_cluster& c, const std::string& who = "admin") {
    client_options o;
    o.cluster = load_cluster_file(c.cluster_file());
    if (c.curve()) o.key = c.key(who);
    return o;
}

}  // namespace starbus::test
