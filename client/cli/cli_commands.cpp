// File: cli_commands.cpp
// The `starbus` commands: each runs over one starbus::client and maps its
// outcome to an exit code and one line on stderr that says what to do next.
#include "cli.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>

#include <starbus/client/client.hpp>
#include <starbus/client/file_mirror.hpp>

namespace starbus::cli {
namespace {

// The cluster this invocation talks to, for messages.
std::string cluster_source(const invocation& inv) {
    return inv.cluster_file.empty() ? std::string("the built-in single broker A (tcp://127.0.0.1:5670)")
                                    : inv.cluster_file;
}

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What a signal handler may touch (a lock-free atomic is async-signal-safe): `sub` and `mirror` stop on
// SIGINT/SIGTERM. The one piece of process-wide state: a signal handler has no other way to say so.
std::atomic<bool> stop_signal{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_stop_signal(int) { stop_signal = true; }

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked poll returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void write_out(std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

void error_line(const std::string& s) { std::cerr << "starbus: " << s << std::endl; }

std::string millis(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// One line on stderr for a failed request, and its exit code.
int report_failure(const invocation& inv, const std::string& what, const result& r) {
    switch (r.status) {
        case result_status::ok: return exit_ok;
        case result_status::refused:
            // The broker's text says why and what to do; the primary is named in case it does not.
            error_line(what + " refused: " + r.message + (r.primary.empty() ? "" : " (primary: " + r.primary + ")"));
            break;
        case result_status::not_found: error_line(r.message); break;
        case result_status::unreachable:
            error_line(what + " failed within " + millis(inv.timeout) + ": " + r.message +
                       "; check that the brokers of " + cluster_source(inv) + " run (starbus status)");
            break;
        case result_status::invalid: error_line(what + " is invalid: " + r.message); break;
        case result_status::not_authorised: error_line(what + " not authorised: " + r.message); break;
    }
    return exit_code_for(r.status);
}

int cmd_status(const invocation& inv, client& c) {
    // A live broker answers STATUS at once, in every state; one that has not answered within two
    // expiries (and a second) is down. Waiting the whole --timeout-ms for it would only slow the table.
    const auto expiry = c.cluster().expiry;
    const auto wait = std::min<std::chrono::milliseconds>(inv.timeout, 2 * expiry + std::chrono::seconds(1));
    const auto rows = c.status_all(wait);
    write_out(inv.json ? render_status_json(rows) : render_status_text(rows));
    bool refused = false;
    for (const auto& r : rows) {
        if (r.reachable) return exit_ok;
        refused = refused || r.key_refused;
    }
    if (refused) {
        error_line("not authorised: the brokers refused this client's key (" + inv.key_file +
                   "): it is not in the access list; an admin grants it with `starbus access grant NAME ROLE FILE.pub`");
        return exit_not_authorised;
    }
    error_line("no broker answered within " + millis(wait) + ": start them, or check the endpoints in " +
               cluster_source(inv));
    return exit_unreachable;
}

int cmd_change(const invocation& inv, client& c, change_op op) {
    const auto cls = inv.config ? change_class::config : change_class::operational;
    const result r = op == change_op::put ? c.set(inv.key, inv.value, cls, inv.timeout)
                                          : c.erase(inv.key, cls, inv.timeout);
    return report_failure(inv, std::string(inv.config ? "configuration " : "") + "change of \"" + inv.key + "\"", r);
}

// set --stdin: pipelined over one session; "ok KEY" per change in input
// order; gives up when no change is acknowledged for --timeout-ms.
int cmd_set_stdin(const invocation& inv, client& c) {
    const auto cls = inv.config ? change_class::config : change_class::operational;
    const std::size_t window = client_options{}.window;
    struct failure {
        std::size_t line;
        std::string key;
        result r;
    };
    std::optional<failure> first_failure;
    std::optional<std::size_t> malformed_line;
    std::size_t line_no = 0, outstanding = 0;
    bool input_done = false;
    std::string buffer;
    auto last_progress = clock::now();

    auto submit_line = [&](std::string_view line) {
        ++line_no;
        if (line.empty() || line == "\r") return;  // blank lines are skipped
        auto kv = parse_change_line(line);
        if (!kv) {
            malformed_line = line_no;
            input_done = true;
            return;
        }
        ++outstanding;
        const std::size_t n = line_no;
        std::string key = kv->first;
        change_request ch{change_op::put, cls, std::move(kv->first), std::move(kv->second)};
        // No deadline per change: the progress watchdog below bounds the wait.
        c.submit(ch, deadline::never(), [&, n, key](const result& r) {
            --outstanding;
            last_progress = clock::now();
            if (r.ok()) {
                write_out("ok " + key + "\n");
                return;
            }
            error_line("line " + std::to_string(n) + " (\"" + key + "\"): " + std::string(to_string(r.status)) + ": " +
                       r.message + (r.primary.empty() ? "" : " (primary: " + r.primary + ")"));
            if (!first_failure) first_failure = failure{n, key, r};
            input_done = true;  // stop reading; finish what is in flight
        });
    };

    char chunk[65536];
    while (!input_done || outstanding > 0) {
        const bool want_input = !input_done && c.in_flight() < window;
        const bool readable = c.poll(milliseconds(100), want_input ? STDIN_FILENO : -1);
        if (want_input && readable && !input_done) {
            const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
            if (n > 0) {
                buffer.append(chunk, static_cast<std::size_t>(n));
                std::size_t start = 0;
                for (auto nl = buffer.find('\n'); nl != std::string::npos && !input_done; nl = buffer.find('\n', start)) {
                    submit_line(std::string_view(buffer).substr(start, nl - start));
                    start = nl + 1;
                }
                buffer.erase(0, start);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                if (!buffer.empty() && !input_done) submit_line(buffer);  // last line without a newline
                buffer.clear();
                input_done = true;
            }
        }
        if (outstanding == 0) last_progress = clock::now();
        if (outstanding > 0 && clock::now() - last_progress > inv.timeout) {
            std::string why = c.last_trouble();
            error_line("no change acknowledged for " + millis(inv.timeout) + " (" + std::to_string(outstanding) +
                       " outstanding, they may still be applied)" + (why.empty() ? "" : ": last: " + why) +
                       "; check the brokers (starbus status)");
            return exit_unreachable;
        }
    }
    if (first_failure) return exit_code_for(first_failure->r.status);
    if (malformed_line) {
        error_line("line " + std::to_string(*malformed_line) +
                   ": malformed: expected KEY VALUE (a key, one space, the value); the lines before it were applied");
        return exit_usage;
    }
    return exit_ok;
}

int cmd_get(const invocation& inv, client& c) {
    const get_result r = c.get(inv.key, inv.timeout);
    if (r.ok()) {
        write_out(r.value + "\n");
        return exit_ok;
    }
    if (r.status == result_status::not_found) {
        error_line("key \"" + inv.key + "\" not found (starbus dump lists every key)");
        return exit_not_found;
    }
    return report_failure(inv, "get \"" + inv.key + "\"", r);
}

int cmd_dump(const invocation& inv, client& c) {
    const dump_result r = c.dump(inv.timeout, inv.from);
    if (!r.ok()) return report_failure(inv, "dump" + (inv.from ? " from " + *inv.from : std::string()), r);
    write_out(inv.json ? render_dump_json(r) : render_dump_text(r.entries));
    return exit_ok;
}

int cmd_pub(const invocation& inv, client& c) {
    return report_failure(inv, "publish on \"" + inv.topic + "\"", c.publish(inv.topic, inv.payload, inv.timeout));
}

int cmd_sub(const invocation& inv, client& c) {
    install_stop_handlers();
    // Gaps (messages retention dropped before this subscriber got them) are
    // said on stderr, so that stdout stays one message per line.
    std::optional<std::string> refused;
    c.on_event([&refused](const client_event& e) {
        if (std::holds_alternative<bus_gap>(e)) error_line(describe(e));
        if (const auto* k = std::get_if<key_refused>(&e)) refused = k->reason;
    });
    c.subscribe(inv.topic, inv.bus_start);
    std::uint64_t received = 0;
    auto last_message = clock::now();
    while (!stop_signal) {
        if (refused) {
            error_line("sub \"" + inv.topic + "\" not authorised: " + *refused);
            return exit_not_authorised;
        }
        if (auto m = c.next_message(milliseconds(100))) {
            if (inv.positions)
                write_out(std::to_string(m->position.epoch) + ":" + std::to_string(m->position.seq) + " ");
            write_out(m->topic + " " + m->payload + "\n");
            last_message = clock::now();
            if (inv.count && ++received >= *inv.count) return exit_ok;
            continue;
        }
        // Only an explicit --timeout-ms limits how long sub waits for a message.
        if (inv.timeout_given && clock::now() - last_message > inv.timeout) {
            std::string why = c.last_trouble();
            error_line("no message on \"" + inv.topic + "\" within " + millis(inv.timeout) +
                       (why.empty() ? "" : " (last: " + why + ")") + "; is anyone publishing? (starbus status)");
            return exit_unreachable;
        }
    }
    return exit_ok;
}

// Progress of a long transfer on stderr: a bar redrawn in place on a
// terminal, a plain line every few seconds otherwise (logs, pipes). Quick
// transfers show nothing: the first line comes after a short while.
class progress_display {
  public:
    explicit progress_display(std::string what)
        : _what(std::move(what)), _tty(::isatty(STDERR_FILENO) == 1), _first(clock::now()), _rate_at(_first) {}
    ~progress_display() {
        if (_shown_any && _tty && !_finished) std::cerr << "\n";  // leave the last bar as it was
    }
    progress_display(const progress_display&) = delete;
    progress_display& operator=(const progress_display&) = delete;

    void update(std::uint64_t done, std::uint64_t total) {
        const auto now = clock::now();
        if (now - _rate_at >= milliseconds(500)) {
            // A rate over the last half second or more, smoothed: ETA stays readable.
            const double inst = static_cast<double>(done - std::min(done, _rate_done)) /
                                std::chrono::duration<double>(now - _rate_at).count();
            _rate = _rate == 0 ? inst : 0.7 * _rate + 0.3 * inst;
            _rate_at = now;
            _rate_done = done;
        }
        _done = done;
        _total = total;
        const auto every = _tty ? milliseconds(100) : milliseconds(2000);
        const auto after = _tty ? milliseconds(300) : milliseconds(2000);
        if (now - _first < after || now - _shown < every) return;
        _shown = now;
        show();
    }
    // The transfer succeeded: a last line with the average rate, if any line was shown.
    void finish() {
        if (!_shown_any || _finished) return;
        _finished = true;
        _done = _total;
        const double secs = std::chrono::duration<double>(clock::now() - _first).count();
        if (secs > 0) _rate = static_cast<double>(_done) / secs;
        show();
        if (_tty) std::cerr << "\n";
    }
    // Starts over for the next transfer (a mirror's next pass).
    void reset() {
        if (_shown_any && _tty && !_finished) std::cerr << "\n";
        _first = _rate_at = clock::now();
        _shown = {};
        _shown_any = _finished = false;
        _done = _total = _rate_done = 0;
        _rate = 0;
    }

  private:
    void show() {
        _shown_any = true;
        const std::string line = render_progress(_what, _done, _total, _rate, _tty);
        if (_tty) std::cerr << "\r" << line << "\x1b[K" << std::flush;
        else std::cerr << "starbus: " << line << std::endl;
    }

    std::string _what;
    bool _tty;
    bool _shown_any = false, _finished = false;
    clock::time_point _first{}, _shown{}, _rate_at{};
    std::uint64_t _done = 0, _total = 0, _rate_done = 0;
    double _rate = 0;
};

transfer_options transfer_for(const invocation& inv, progress_display& display) {
    transfer_options o;
    o.stall_timeout = inv.timeout;
    o.durable = !inv.no_fsync;
    o.progress = [&display](const transfer_progress& p) { display.update(p.done_bytes, p.total_bytes); };
    return o;
}

int cmd_put(const invocation& inv, client& c) {
    progress_display display("put " + inv.remote);
    const result r = c.put_file(inv.local, inv.remote, transfer_for(inv, display));
    if (r.ok()) display.finish();
    return report_failure(inv, "put of " + inv.local + " as \"" + inv.remote + "\"", r);
}

int cmd_rm(const invocation& inv, client& c) {
    return report_failure(inv, "removal of \"" + inv.remote + "\"", c.remove_file(inv.remote, inv.timeout));
}

int cmd_ls(const invocation& inv, client& c) {
    if (inv.from) {
        // A replica's manifest comes with its snapshot (the same read as dump --from).
        const dump_result d = c.dump(inv.timeout, inv.from);
        if (!d.ok()) return report_failure(inv, "ls from " + *inv.from, d);
        write_out(inv.json ? render_files_json(d.files) : render_files_text(d.files));
        return exit_ok;
    }
    const file_list_result r = c.list_files(inv.timeout);
    if (!r.ok()) return report_failure(inv, "ls", r);
    write_out(inv.json ? render_files_json(r.files) : render_files_text(r.files));
    return exit_ok;
}

int cmd_fetch(const invocation& inv, client& c) {
    progress_display display("fetch " + inv.remote);
    const result r = c.fetch_file(inv.remote, inv.local, transfer_for(inv, display));
    if (r.ok()) display.finish();
    if (r.status == result_status::not_found) {
        error_line(r.message + " (starbus ls lists every file)");
        return exit_not_found;
    }
    return report_failure(inv, "fetch of \"" + inv.remote + "\"", r);
}

std::string describe_pass(const std::string& dir, const mirror_report& r) {
    std::string line = "mirror " + dir + ": " + std::to_string(r.files) + " files as of " + std::to_string(r.at.epoch) +
                       ":" + std::to_string(r.at.seq) + (r.server.empty() ? "" : " from " + r.server) + "; fetched " +
                       std::to_string(r.fetched) + " (" + human_bytes(r.fetched_bytes) + "), deleted " +
                       std::to_string(r.deleted) + ", re-read " + std::to_string(r.rehashed) + ", in " +
                       std::to_string(r.took.count()) + " ms";
    if (!r.outcome.ok()) line += "; " + r.outcome.message;
    return line;
}

int cmd_mirror(const invocation& inv, client& c) {
    std::optional<file_mirror> m;
    try {
        m.emplace(c, mirror_options{inv.local, inv.adopt, !inv.no_fsync});
    } catch (const config_error& e) {
        error_line(e.what());
        return exit_usage;
    }
    progress_display display("mirror " + inv.local);
    const auto progress = [&display](const transfer_progress& p) { display.update(p.done_bytes, p.total_bytes); };
    if (inv.once) {
        const mirror_report r = m->sync(inv.timeout, progress);
        if (r.outcome.ok()) display.finish();
        std::cerr << "starbus: " << describe_pass(inv.local, r) << std::endl;
        return r.outcome.ok() ? exit_ok : report_failure(inv, "mirror of " + inv.local, r.outcome);
    }
    install_stop_handlers();
    m->run(
        stop_signal,
        [&](const mirror_report& r) {
            if (r.outcome.ok()) display.finish();
            display.reset();
            std::cerr << "starbus: " << describe_pass(inv.local, r) << std::endl;
        },
        progress);
    return exit_ok;
}

int cmd_force(const invocation& inv, client& c) {
    const result r = c.force(inv.name, inv.timeout);
    if (r.ok()) {
        write_out(inv.name + " serves\n");
        return exit_ok;
    }
    return report_failure(inv, "force " + inv.name, r);
}

}  // namespace

int run(const invocation& inv) {
    if (inv.command == "keygen") return run_keygen(inv);
    client_options opts;
    try {
        opts.cluster = inv.cluster_file.empty() ? builtin_cluster(1) : load_cluster_file(inv.cluster_file);
    } catch (const config_error& e) {
        error_line(e.what());
        return exit_usage;
    }
    if (opts.cluster.curve() && inv.key_file.empty()) {
        error_line("a key is needed: " + cluster_source(inv) +
                   " uses CURVE ([security] mode = \"curve\"); give this client's NAME.key with --key FILE or "
                   "STARBUS_KEY=FILE (an admin makes one with `starbus keygen NAME` and grants it with "
                   "`starbus access grant`)");
        return exit_not_authorised;
    }
    if (!opts.cluster.curve() && !inv.key_file.empty())
        error_line("note: the key " + inv.key_file + " is not used: " + cluster_source(inv) +
                   " does not use CURVE ([security] mode = \"none\"), so nothing is encrypted");
    if (opts.cluster.curve()) {
        try {
            opts.key = load_secret_key_file(inv.key_file);
        } catch (const key_error& e) {
            error_line(e.what());
            return exit_usage;
        }
    }
    opts.mirror_state = inv.command == "mirror";
    opts.verify_sha256 = inv.verify;
    client c(opts);
    if (inv.command == "status") return cmd_status(inv, c);
    if (inv.command == "put") return cmd_put(inv, c);
    if (inv.command == "rm") return cmd_rm(inv, c);
    if (inv.command == "ls") return cmd_ls(inv, c);
    if (inv.command == "fetch") return cmd_fetch(inv, c);
    if (inv.command == "mirror") return cmd_mirror(inv, c);
    if (inv.command == "set") return inv.from_stdin ? cmd_set_stdin(inv, c) : cmd_change(inv, c, change_op::put);
    if (inv.command == "del") return cmd_change(inv, c, change_op::erase);
    if (inv.command == "get") return cmd_get(inv, c);
    if (inv.command == "dump") return cmd_dump(inv, c);
    if (inv.command == "pub") return cmd_pub(inv, c);
    if (inv.command == "sub") return cmd_sub(inv, c);
    if (inv.command == "force") return cmd_force(inv, c);
    if (inv.command == "access") return run_access(inv, c);
    error_line("unknown command " + inv.command);
    return exit_usage;
}

}  // namespace starbus::cli
