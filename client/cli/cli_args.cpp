// File: cli_args.cpp
// The `starbus` command line (CLI11): commands, options, and the rules CLI11
// cannot express (set needs KEY VALUE or --stdin; a cluster file is needed).
#include "cli.hpp"

#include <algorithm>
#include <charconv>

#include <CLI/CLI.hpp>

#include <starbus/version.hpp>

namespace starbus::cli {

int exit_code_for(result_status s) {
    switch (s) {
        case result_status::ok: return exit_ok;
        case result_status::refused: return exit_refused;
        case result_status::not_found: return exit_not_found;
        case result_status::unreachable: return exit_unreachable;
        case result_status::invalid: return exit_usage;
        case result_status::not_authorised: return exit_not_authorised;
    }
    return exit_usage;
}

namespace {

parsed_arguments usage_error(std::string message) {
    parsed_arguments p;
    p.exit = exit_usage;
    p.err = "starbus: " + std::move(message) + " (run starbus --help for usage)\n";
    return p;
}

}  // namespace

namespace {

// keygen and access: the commands of docs/security.md.
struct security_commands {
    CLI::App* keygen = nullptr;
    CLI::App* access = nullptr;
};

security_commands add_security_commands(CLI::App& app, invocation& inv) {
    security_commands s;
    s.keygen = app.add_subcommand("keygen", "write a CURVE key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub");
    s.keygen->add_option("name", inv.name, "NAME")->required();
    s.keygen->add_option("--dir", inv.dir, "where to write them (default: the current directory)")->option_text("DIR");
    s.keygen->add_flag("--force", inv.replace, "replace existing files of that name");

    s.access = app.add_subcommand("access", "the access list of a CURVE cluster (grant and revoke: admin, while the "
                                            "primary serves)");
    s.access->require_subcommand(1);
    auto* grant = s.access->add_subcommand("grant", "let client NAME, holding the key of PUBFILE, act as ROLE");
    grant->add_option("name", inv.name, "NAME")->required();
    grant->add_option("role", inv.role, "ROLE: reader, writer or admin")
        ->required()
        ->check(CLI::IsMember({"reader", "writer", "admin"}));
    grant->add_option("pubfile", inv.pub_file, "the client's NAME.pub (from starbus keygen)")->required();
    auto* revoke = s.access->add_subcommand("revoke", "cut client NAME off, on open connections too");
    revoke->add_option("name", inv.name, "NAME")->required();
    auto* ls = s.access->add_subcommand("ls", "every client: NAME, ROLE, PUBLIC-KEY, SOURCE (tab-separated)");
    ls->add_flag("--json", inv.json, "one JSON array");
    return s;
}

}  // namespace

parsed_arguments parse_arguments(const std::vector<std::string>& args, const char* env_cluster, const char* env_key) {
    invocation inv;
    std::int64_t timeout_ms = 5000;
    std::uint64_t count = 0;

    CLI::App app{"starbus: talk to a starbus cluster (high-availability message bus for ZeroMQ)", "starbus"};
    app.footer(
        "Exit codes: 0 ok, 2 usage or bad input, 3 refused, 4 not found, 5 no broker reachable in time,\n"
        "6 not authorised (CURVE: a key unknown to the cluster, missing, or whose role does not allow it).\n"
        "Without --key, the key file named by $STARBUS_KEY is used (needed on a cluster with [security] mode = curve).\n"
        "Without --cluster, the file named by $STARBUS_CLUSTER is used; without either, the built-in single\n"
        "broker A on tcp://127.0.0.1:5670 (what starbus-broker runs without a cluster file).");
    app.add_option("--cluster", inv.cluster_file, "cluster file (TOML): the brokers in rank order")
        ->option_text("FILE");
    app.add_option("--key", inv.key_file, "this client's secret key file (NAME.key from starbus keygen)")
        ->option_text("FILE");
    auto* timeout_opt = app.add_option("--timeout-ms", timeout_ms, "give up after this many milliseconds (default 5000)")
                            ->check(CLI::Range(std::int64_t{1}, std::int64_t{24} * 3600 * 1000))
                            ->option_text("N");
    // Before the subcommand check (CLI11 runs flag callbacks first): `starbus --version` needs no cluster or command.
    app.set_version_flag("--version", [] { return version_line("starbus"); },
                         "print the release, the protocol version and the libzmq version, then exit");
    app.require_subcommand(1);
    app.fallthrough();  // global options may also follow the command

    auto* status = app.add_subcommand("status", "every broker in rank order: role, epoch, sequence, clients");
    status->add_flag("--json", inv.json, "one JSON array");

    auto* set = app.add_subcommand("set", "set KEY VALUE (acknowledged: exit 0); --stdin: KEY VALUE lines");
    set->add_flag("--config", inv.config, "a configuration change (needs the primary to serve)");
    set->add_flag("--stdin", inv.from_stdin, "read KEY VALUE lines from stdin; print \"ok KEY\" per change");
    auto* set_key = set->add_option("key", inv.key, "KEY");
    auto* set_value = set->add_option("value", inv.value, "VALUE (may be empty: \"\")");

    auto* del = app.add_subcommand("del", "remove KEY");
    del->add_flag("--config", inv.config, "a configuration change (needs the primary to serve)");
    del->add_option("key", inv.key, "KEY")->required();

    auto* get = app.add_subcommand("get", "print KEY's value (exit 4 when absent)");
    get->add_option("key", inv.key, "KEY")->required();

    auto* dump = app.add_subcommand("dump", "the whole state, one KEY VALUE line per entry, sorted by key");
    dump->add_flag("--json", inv.json, "one JSON object {epoch, seq, entries}");
    dump->add_option("--from", inv.from, "broker NAME's replica instead of the serving broker's state")
        ->option_text("NAME");

    auto* pub = app.add_subcommand("pub", "publish MESSAGE on TOPIC (acknowledged: exit 0)");
    pub->add_option("topic", inv.topic, "TOPIC")->required();
    pub->add_option("message", inv.payload, "MESSAGE")->required();

    auto* sub = app.add_subcommand("sub",
                                   "print \"TOPIC MESSAGE\" for every message whose topic starts with TOPIC, until "
                                   "SIGINT/SIGTERM or --count; with an explicit --timeout-ms, exit 5 when no "
                                   "message arrives for that long");
    sub->add_option("topic", inv.topic, "TOPIC prefix (\"\" for all)")->required();
    sub->add_option("--count", count, "exit after N messages")->check(CLI::PositiveNumber)->option_text("N");
    std::string sub_from = "latest";
    sub->add_option("--from", sub_from,
                    "where to start: latest (what is published from now on), oldest (everything the cluster "
                    "still retains), or EPOCH:SEQ (after the message at that position)")
        ->option_text("WHERE");
    sub->add_flag("--positions", inv.positions, "print \"EPOCH:SEQ TOPIC MESSAGE\": a position to resume from");

    auto* force = app.add_subcommand("force", "make broker NAME serve although it may miss acknowledged changes");
    force->add_option("name", inv.name, "NAME")->required();

    auto* put = app.add_subcommand("put", "put LOCAL file at REMOTE path (a configuration change; exit 0 once "
                                          "acknowledged)");
    put->add_option("local", inv.local, "LOCAL file")->required();
    put->add_option("remote", inv.remote, "REMOTE path (relative, '/'-separated)")->required();

    auto* rm = app.add_subcommand("rm", "remove the file at REMOTE (a configuration change)");
    rm->add_option("remote", inv.remote, "REMOTE path")->required();

    auto* ls = app.add_subcommand("ls", "every file: PATH, SIZE, SHA-256, EPOCH:SEQ (tab-separated), in path order");
    ls->add_flag("--json", inv.json, "one JSON array");
    ls->add_option("--from", inv.from, "broker NAME's replica instead of the serving broker's files")
        ->option_text("NAME");

    auto* fetch = app.add_subcommand("fetch", "write the file at REMOTE into LOCAL (exit 4 when there is no such file)");
    fetch->add_option("remote", inv.remote, "REMOTE path")->required();
    fetch->add_option("local", inv.local, "LOCAL file")->required();
    fetch->add_flag("--verify", inv.verify, "check SHA-256 too (slower), not only XXH3-128");
    fetch->add_flag("--no-fsync", inv.no_fsync, "do not fsync the file before it replaces LOCAL");

    auto* mirror = app.add_subcommand("mirror", "keep DIR identical to the cluster's files, across failovers, until "
                                                "SIGINT/SIGTERM");
    mirror->add_option("dir", inv.local, "DIR")->required();
    mirror->add_flag("--once", inv.once, "one pass, then exit (0 when DIR is identical)");
    mirror->add_flag("--adopt", inv.adopt, "use a non-empty DIR that is not a mirror yet (extra files are deleted)");
    mirror->add_flag("--verify", inv.verify, "check SHA-256 too (slower), not only XXH3-128");
    mirror->add_flag("--no-fsync", inv.no_fsync, "do not fsync files before they replace the old ones");

    const security_commands security = add_security_commands(app, inv);

    std::vector<const char*> argv;
    argv.reserve(args.size());
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::CallForHelp&) {
        parsed_arguments p;
        const CLI::App* which = &app;
        for (const auto* s : app.get_subcommands())
            if (s->parsed()) which = s;
        p.out = which->help();
        return p;
    } catch (const CLI::CallForAllHelp&) {
        parsed_arguments p;
        p.out = app.help("", CLI::AppFormatMode::All);
        return p;
    } catch (const CLI::CallForVersion& e) {
        parsed_arguments p;
        p.out = std::string(e.what()) + "\n";
        return p;
    } catch (const CLI::ParseError& e) {
        return usage_error(e.what());
    }

    inv.command = app.get_subcommands().front()->get_name();
    if (security.access->parsed()) inv.access_action = security.access->get_subcommands().front()->get_name();
    if (security.keygen->parsed()) {
        if (auto e = name_error(inv.name); !e.empty()) return usage_error("key name \"" + inv.name + "\" " + e);
    }
    if (security.access->parsed() && inv.access_action != "ls") {
        if (auto e = name_error(inv.name); !e.empty()) return usage_error("client name \"" + inv.name + "\" " + e);
    }
    inv.timeout = std::chrono::milliseconds(timeout_ms);
    inv.timeout_given = timeout_opt->count() > 0;
    // File transfers wait on progress: a busy disk or a failover may hold them a while.
    if (!inv.timeout_given && (put->parsed() || fetch->parsed() || mirror->parsed()))
        inv.timeout = std::chrono::milliseconds(30000);
    if (sub->parsed() && sub->get_option("--count")->count() > 0) inv.count = count;
    if (sub->parsed()) {
        auto start = parse_bus_start(sub_from);
        if (!start) return usage_error("sub --from takes latest, oldest or EPOCH:SEQ, not \"" + sub_from + "\"");
        inv.bus_start = *start;
    }

    if (set->parsed()) {
        const bool has_key = set_key->count() > 0, has_value = set_value->count() > 0;
        if (inv.from_stdin && (has_key || has_value)) return usage_error("set --stdin takes no KEY VALUE arguments");
        if (!inv.from_stdin && !(has_key && has_value)) return usage_error("set needs KEY and VALUE (or --stdin)");
    }
    if ((set->parsed() && !inv.from_stdin) || del->parsed() || get->parsed())
        if (inv.key.empty()) return usage_error("the key is empty");
    if (pub->parsed() && inv.topic.empty()) return usage_error("the topic is empty");

    // Neither given: the built-in single broker that `starbus-broker` runs without a cluster file.
    if (inv.cluster_file.empty() && env_cluster && *env_cluster) inv.cluster_file = env_cluster;
    if (inv.key_file.empty() && env_key && *env_key) inv.key_file = env_key;

    parsed_arguments p;
    p.run = std::move(inv);
    return p;
}

std::optional<subscribe_options> parse_bus_start(std::string_view text) {
    if (text == "latest") return subscribe_options{bus_start::latest, {}};
    if (text == "oldest") return subscribe_options{bus_start::oldest, {}};
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto number = [](std::string_view digits) -> std::optional<std::uint64_t> {
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
        return v;
    };
    auto epoch = number(text.substr(0, colon)), seq = number(text.substr(colon + 1));
    if (!epoch || !seq) return std::nullopt;
    return subscribe_options{bus_start::after, position{*epoch, *seq}};
}

}  // namespace starbus::cli
