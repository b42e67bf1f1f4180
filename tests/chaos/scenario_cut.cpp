// File: scenario_cut.cpp
// The replica-cut scenario (see scenarios.hpp and cut_check.hpp; issue 9
// §2): the primary is cut from its backups, the brokers' links to each
// other only, while the load worker and a monitoring host still reach every
// broker. The monitoring host does what any monitoring does: `starbus
// status --json` every 0.4 s, and now and then `starbus dump --from B`,
// `starbus ls --from B` and `starbus get KEY` (a new client each time, whose
// first-contact probe asks every broker at once). None of them failed
// over, so no backup may take
// over: the primary keeps serving and acknowledging through the cut, and no
// status sample, taken every 100 ms from the control host for the whole run,
// shows two brokers active. Then the cut heals, and the final phase and the
// checker run as in the other scenarios.
#include <fstream>
#include <sstream>
#include <thread>

#include "cut_check.hpp"
#include "final_phase.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace starbus::chaos {

namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

// One CLI call of the monitoring host.
struct monitor_call {
    std::int64_t from_ms = 0, to_ms = 0;  // wall clock
    std::string command;                  // "status --json", "dump --json --from B", "ls --from B"
    int exit_code = -1;
};

std::string read_text(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The monitoring host's loop: one CLI call each period, every
// `from_every`-th of them, in turn, a dump or an ls from the first backup or
// a get of `key` (served by the primary; the new client's first-contact
// probe asks every broker), the others status. The status answers are
// samples too.
class monitoring {
  public:
    monitoring(cluster_env& env, const scenario_options& o, std::string key)
        : _env(env), _o(o), _key(std::move(key)), _next(steady::now()) {}

    // Runs calls until `until`, supervising the brokers meanwhile; every call is bounded by its timeout.
    void run_until(steady::time_point until, const std::atomic<bool>& stop) {
        while (steady::now() < until) {
            check_interrupt(stop);
            _env.fleet().supervise();
            for (const auto& d : _env.dead_clients()) _env.events().add("client " + d);
            if (steady::now() >= _next) {
                call();
                _next = std::max(_next + _o.monitor_every, steady::now());  // a slow call delays, never bunches
            }
            std::this_thread::sleep_for(
                std::min<steady::duration>(20ms, std::max<steady::duration>(0ms, until - steady::now())));
        }
    }

    [[nodiscard]] const std::vector<monitor_call>& calls() const { return _calls; }
    [[nodiscard]] const std::vector<status_sample>& samples() const { return _samples; }

  private:
    void call() {
        const std::string backup = _env.broker_name(1);
        std::vector<std::string> args = {"status", "--json"};
        if (++_count % _o.monitor_from_every == 0) {
            switch (_other_count++ % 3) {
                case 0: args = {"dump", "--json", "--from", backup}; break;
                case 1: args = {"ls", "--from", backup}; break;
                default: args = {"get", _key}; break;
            }
        }
        monitor_call c;
        for (const auto& a : args) c.command += (c.command.empty() ? "" : " ") + a;
        c.from_ms = wall_ms();
        const command_result r = _env.monitor(0).cli(args, 1000ms);
        c.to_ms = wall_ms();
        c.exit_code = r.exit_code;
        if (args.front() == "status" && r.exit_code == 0)
            if (auto roles = parse_status_json(r.out)) _samples.push_back({c.to_ms, "m1", std::move(*roles)});
        std::ofstream(_o.env.run_dir / "monitor-m1.log", std::ios::app)
            << clock_text(c.from_ms) << " starbus " << c.command << " -> exit " << c.exit_code << " in "
            << (c.to_ms - c.from_ms) << " ms\n";
        _calls.push_back(std::move(c));
    }

    cluster_env& _env;
    const scenario_options& _o;
    std::string _key;  // what `get` reads
    steady::time_point _next;
    int _count = 0, _other_count = 0;
    std::vector<monitor_call> _calls;
    std::vector<status_sample> _samples;
};

std::string names(const cluster_env& env, std::size_t from) {
    std::string s;
    for (std::size_t i = from; i < env.brokers(); ++i) s += (s.empty() ? "" : ", ") + env.broker_name(i);
    return s;
}

}  // namespace

int run_replica_cut(const scenario_options& o, const std::atomic<bool>& stop) {
    if (o.env.brokers < 2) throw harness_error("the replica cut needs --brokers 2 or more");
    if (o.env.monitors < 1) throw harness_error("the replica cut needs a monitoring host (env_options::monitors)");
    cluster_env env(o.env);
    start_cluster(env, stop);
    // A key for the monitoring host's `get`, and proof that the cluster takes writes before the cut.
    const std::string key = "harness.cut.ready";
    if (const probe_result p = env.ctl().probe(key, env.tag(), false, 10s); !p.ok)
        throw harness_error("the new cluster did not acknowledge a write within 10 s: " + p.status + " " + p.message +
                            ": see the broker logs in " + o.env.run_dir.string());
    // Declared after env: stopped (killed) before the cluster is torn down.
    ns_process watch = env.start_watch(o.env.run_dir / "samples-ctl.jsonl", o.sample_every);
    start_subscribers(env, stop);
    env.start_load();
    const auto load_started = wall_ms();
    monitoring mon(env, o, key);

    std::vector<std::size_t> primary = {0}, backups;
    for (std::size_t i = 1; i < env.brokers(); ++i) backups.push_back(i);
    const std::string backup_names = names(env, 1);
    mon.run_until(steady::now() + o.cut_before, stop);

    env.network().partition(primary, backups);
    const auto cut_from = wall_ms();
    const auto cut_started = steady::now();
    env.events().add("cut: " + env.primary() + " | " + backup_names +
                     " (blackhole routes between the brokers only; every client host still reaches every broker)");
    mon.run_until(cut_started + o.cut, stop);
    const auto cut_to = wall_ms();
    env.network().heal_partition();
    env.events().add("cut healed after " + std::to_string(cut_to - cut_from) + " ms");
    mon.run_until(steady::now() + o.cut_after, stop);

    final_options fo;
    fo.settle_timeout = o.settle_timeout;
    fo.checker.bus = o.bus;
    run_outcome r = finish_run(env, nullptr, fo, load_started, stop);
    (void)watch.stop_gently(2s);

    // The verdicts of the cut.
    std::size_t bad_lines = 0;
    std::vector<status_sample> samples =
        parse_status_samples(read_text(o.env.run_dir / "samples-ctl.jsonl"), bad_lines);
    const std::size_t sampled_by_ctl = samples.size();
    samples.insert(samples.end(), mon.samples().begin(), mon.samples().end());
    cut_inputs in;
    in.primary = env.primary();
    for (auto i : backups) in.backups.push_back(env.broker_name(i));
    in.cut_from_ms = cut_from;
    in.cut_to_ms = cut_to;
    in.load_from_ms = load_started;
    in.samples = std::move(samples);
    for (const auto& l : r.logs)
        for (const auto& line : l.transitions)
            if (auto c = parse_role_change(line)) in.changes.push_back(std::move(*c));
    in.h = &r.h;
    std::size_t status_calls = 0, other_calls = 0, failed_calls = 0;
    for (const auto& c : mon.calls()) {
        (c.command.rfind("status", 0) == 0 ? status_calls : other_calls) += 1;
        failed_calls += c.exit_code != 0 ? 1 : 0;
        if (c.exit_code == 0 && c.from_ms >= cut_from && c.to_ms <= cut_to) ++in.monitor_calls_in_cut;
    }
    const auto cut_ms = static_cast<std::int64_t>(o.cut.count());
    // Ten heartbeats without an acknowledgement is a stall, not the replica-silence wait (one expiry).
    in.max_ack_gap_ms = std::max<std::int64_t>(1000, 10 * o.env.heartbeat_ms);
    in.min_samples_in_cut = static_cast<std::size_t>(cut_ms / o.sample_every.count() / 2);
    in.min_monitor_calls_in_cut = static_cast<std::size_t>(cut_ms / o.monitor_every.count() / 2);
    const cut_report cr = check_cut(in);

    const double expiries = static_cast<double>(cut_to - cut_from) / (3.0 * o.env.heartbeat_ms);
    char head[256];
    std::snprintf(head, sizeof head, "replica cut: %s | %s for %.2f s (%.0f expiries at heartbeat %d ms)\n",
                  env.primary().c_str(), backup_names.c_str(), static_cast<double>(cut_to - cut_from) / 1000.0,
                  expiries, o.env.heartbeat_ms);
    std::string text = head;
    text += "monitoring host m1: " + std::to_string(status_calls) + " `starbus status --json`, " +
            std::to_string(other_calls) + " `dump --from " + env.broker_name(1) + "`, `ls --from " +
            env.broker_name(1) + "` or `get` (" + std::to_string(in.monitor_calls_in_cut) +
            " completed during the cut, " + std::to_string(failed_calls) +
            " failed); control host: " + std::to_string(sampled_by_ctl) + " status samples every " +
            std::to_string(o.sample_every.count()) + " ms" +
            (bad_lines ? " (" + std::to_string(bad_lines) + " unreadable lines)" : std::string()) + "\n";
    for (const auto& f : cr.figures) text += "  " + f + "\n";
    text += render_figures(r, {{"partition", 1}}, env.fleet().restarts());
    for (const auto& v : cr.violations) text += "cut: " + v + "\n";
    const bool ok = r.ok() && cr.ok();
    if (!ok) {
        text += render_failure(r, env.events(), o.env.seed, o.reproduce);
        // The evidence: every broker's role transitions from the cut to a second after the final phase began.
        text += "\nrole transitions (broker logs) from the cut on:\n";
        std::vector<const log_line*> lines;
        for (const auto& l : r.logs)
            for (const auto& line : l.transitions)
                if (line.at_ms >= cut_from - 100) lines.push_back(&line);
        std::stable_sort(lines.begin(), lines.end(),
                         [](const log_line* a, const log_line* b) { return a->at_ms < b->at_ms; });
        std::size_t shown = 0;
        for (const auto* l : lines) {
            if (++shown > 40) {
                text += "  ... " + std::to_string(lines.size() - 40) + " more in the broker logs\n";
                break;
            }
            char off[32];
            std::snprintf(off, sizeof off, "%+.2f s", static_cast<double>(l->at_ms - cut_from) / 1000.0);
            text += "  " + clock_text(l->at_ms) + " (" + off + ") " + l->broker + " " + l->text + "\n";
        }
        for (const auto& v : cr.violations) text += "cut: " + v + "\n";
    }
    text += std::string(ok ? "PASSED" : "FAILED") + " replica cut (" + std::to_string(cr.violations.size()) +
            " cut violations, " + std::to_string(r.report.violations.size() + r.liveness.size()) +
            " checker and liveness); report, logs, histories and samples in " + o.env.run_dir.string() + "\n";
    publish_report(text, env.events(), o.env.run_dir);
    return ok ? 0 : 1;
}

}  // namespace starbus::chaos
