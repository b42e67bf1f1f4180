// File: cli.hpp
// The `starbus` command-line tool, split into testable pieces: argument
// parsing (CLI11) into an invocation, the text and JSON renderings, the
// `set --stdin` line format, and the exit codes. The commands themselves
// (cli_commands.cpp) talk to the cluster through starbus::client.
//
//   starbus --cluster FILE [--key FILE] [--timeout-ms N] COMMAND ...
//   starbus --version
//   exit codes: 0 ok, 2 usage or bad input, 3 refused, 4 not found,
//               5 no broker reachable in time, 6 not authorised
// --timeout-ms bounds each command (default 5000 ms), with exceptions:
// `set --stdin`, `put`, `fetch` and `mirror` give up when nothing has moved
// for that long (a progress deadline, so long inputs and large files are not
// cut off; default 30000 ms for the file commands), and `sub` and `mirror`
// run until SIGINT/SIGTERM (`sub`: or --count) — `sub` exits 5 when no
// message arrives for an explicit --timeout-ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <starbus/client/client_types.hpp>
#include <starbus/security/access_merge.hpp>

namespace starbus {
class client;
}

namespace starbus::cli {

enum exit_code : int {
    exit_ok = 0,
    exit_usage = 2,        // bad arguments, unreadable cluster file, malformed input
    exit_refused = 3,      // the cluster refused (configuration change without the primary, force)
    exit_not_found = 4,    // get: no such key
    exit_unreachable = 5,  // no broker served (or answered) in time
    exit_not_authorised = 6,  // CURVE: the key is unknown (or missing), or its role does not allow the command
};

// The exit code for a request's outcome.
[[nodiscard]] int exit_code_for(result_status s);

// What the command line asked for.
struct invocation {
    std::string cluster_file;  // --cluster, else $STARBUS_CLUSTER
    std::string key_file;      // --key, else $STARBUS_KEY: the client's NAME.key (CURVE clusters)
    std::chrono::milliseconds timeout{5000};
    bool timeout_given = false;  // --timeout-ms was on the command line
    std::string command;         // status, set, del, get, dump, pub, sub, force
    bool json = false;           // status, dump
    bool config = false;         // set, del: a configuration change
    bool from_stdin = false;     // set --stdin
    std::string key;             // set, del, get
    std::string value;           // set
    std::string topic;           // pub, sub
    std::string payload;         // pub
    std::string name;            // force
    std::optional<std::string> from;     // dump --from, ls --from
    std::optional<std::uint64_t> count;  // sub --count
    bool positions = false;      // sub --positions: prefix each line with EPOCH:SEQ
    std::string local;           // put: the local file; fetch: where to write it; mirror: the directory
    std::string remote;          // put, rm, fetch: the remote path
    bool once = false;           // mirror --once: one pass, then exit
    bool adopt = false;          // mirror --adopt: take over a non-empty directory
    bool verify = false;         // fetch, mirror --verify: check SHA-256 too
    bool no_fsync = false;       // fetch, mirror --no-fsync
    subscribe_options bus_start;  // sub --from latest|oldest|EPOCH:SEQ
    std::string dir = ".";       // keygen --dir
    bool replace = false;        // keygen --force
    std::string access_action;   // access grant|revoke|ls
    std::string role;            // access grant
    std::string pub_file;        // access grant: the client's NAME.pub
};

// The result of parsing: an invocation to run, or an exit code with what to
// print (help on stdout, errors on stderr).
struct parsed_arguments {
    std::optional<invocation> run;
    int exit = exit_ok;
    std::string out;
    std::string err;
};

// Parses the command line (args[0] is the program name). `env_cluster` is
// $STARBUS_CLUSTER (nullptr when unset). Usage errors exit 2, never CLI11's
// own codes; --help and --version (one line: release, protocol and libzmq
// versions) exit 0, with or without a command.
// `env_key` is $STARBUS_KEY (nullptr when unset).
[[nodiscard]] parsed_arguments parse_arguments(const std::vector<std::string>& args, const char* env_cluster,
                                               const char* env_key = nullptr);

// `sub --from`: "latest", "oldest", or "EPOCH:SEQ" (the position of a
// message received, as `sub --positions` prints it: start after it).
// nullopt for anything else.
[[nodiscard]] std::optional<subscribe_options> parse_bus_start(std::string_view text);

// `set --stdin` input: KEY, one space, VALUE (the rest of the line, possibly
// empty or with spaces). A trailing '\r' is dropped. nullopt when the line
// has no space or the key is empty.
[[nodiscard]] std::optional<std::pair<std::string, std::string>> parse_change_line(std::string_view line);

// `status`: an aligned table with a header line, one row per broker in rank order.
[[nodiscard]] std::string render_status_text(const std::vector<broker_status>& rows);
// `status --json`: one array of objects with name, rank, role, epoch, seq,
// pending, clients (and reachable, state, server, note; protocol, release and
// libzmq: what each broker runs, 0 or empty when unknown).
[[nodiscard]] std::string render_status_json(const std::vector<broker_status>& rows);

// `dump`: one "KEY VALUE" line per entry, sorted by key (the `set --stdin`
// format, so a dump can be replayed; values are printed as they are).
[[nodiscard]] std::string render_dump_text(const std::vector<change>& entries);
// `dump --json`: {"epoch", "seq", "entries": [{"key", "value", "class", "seq"}...]}, sorted by key.
[[nodiscard]] std::string render_dump_json(const dump_result& d);

// `ls`: one line per file, path order: PATH TAB SIZE TAB SHA-256 TAB EPOCH:SEQ
// (tabs, because a path may hold spaces but never a tab).
[[nodiscard]] std::string render_files_text(const std::vector<file_entry>& files);
// `ls --json`: an array of {"path", "size", "hash", "xxh3", "epoch", "seq", "position": {"epoch", "seq"}}.
[[nodiscard]] std::string render_files_json(const std::vector<file_entry>& files);
// "1.5 GiB", "512 B".
[[nodiscard]] std::string human_bytes(std::uint64_t bytes);
// One progress line: "put big.iso [=====>    ]  45% 1.2 GiB of 2.7 GiB, 850.0 MiB/s, ETA 2 s" (no bar: for logs).
[[nodiscard]] std::string render_progress(const std::string& what, std::uint64_t done, std::uint64_t total,
                                          double rate_per_s, bool bar);

// `access ls`: one line per client, by name: NAME TAB ROLE TAB PUBLIC-KEY TAB SOURCE (file: the cluster
// file's [[client]] table; granted: `starbus access grant`).
[[nodiscard]] std::string render_access_text(const std::vector<access_list_entry>& entries);
// `access ls --json`: an array of {"name", "role", "public_key", "source"}.
[[nodiscard]] std::string render_access_json(const std::vector<access_list_entry>& entries);

// `keygen` and `access` (cli_security.cpp). keygen needs no cluster.
[[nodiscard]] int run_keygen(const invocation& inv);
[[nodiscard]] int run_access(const invocation& inv, client& c);

// Runs a parsed invocation against the cluster; returns the exit code.
[[nodiscard]] int run(const invocation& inv);

}  // namespace starbus::cli
