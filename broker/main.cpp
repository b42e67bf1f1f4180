// File: main.cpp
// starbus-broker: runs one broker in the foreground, logging to stderr.
//   starbus-broker --cluster FILE --name NAME --data-dir DIR [--key NAME.key] [--log-format text|json]
//   starbus-broker --version
// Without --cluster: a single primary named A on tcp://127.0.0.1:5670.
// SIGTERM or SIGINT stops it cleanly; after SIGKILL it recovers from its data dir.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <starbus/broker/broker.hpp>
#include <starbus/broker/durable_store.hpp>
#include <starbus/broker/json_log_format.hpp>
#include <starbus/version.hpp>

namespace {

// The only process-wide state: what a signal handler may touch.
std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) { stop_requested.store(true); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-broker: one broker of a starbus cluster (see README.md)"};
    std::string cluster_file;
    std::string name;
    std::string data_dir;
    std::string log_level = "info";
    std::string key_file;
    std::string http;
    app.add_option("--cluster", cluster_file, "cluster file (TOML); default: a single primary A on tcp://127.0.0.1:5670");
    app.add_option("--name", name, "this broker's name in the cluster file");
    app.add_option("--data-dir", data_dir, "where this broker keeps its replica (default: ./starbus-data/NAME)");
    app.add_option("--key", key_file,
                   "this broker's secret key file (NAME.key from `starbus keygen NAME`); required when the cluster "
                   "file's [security] mode is \"curve\"")
        ->option_text("FILE");
    app.add_option("--http", http,
                   "serve /metrics, /livez, /readyz, / and /status.json on HOST:PORT (overrides the broker's http in "
                   "the cluster file; no authentication: keep it on loopback or a management network)")
        ->option_text("HOST:PORT");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    std::string log_format_name = "text";
    app.add_option("--log-format", log_format_name,
                   "text (default), or json: one object per line with time, broker, level, event, fields")
        ->check(CLI::IsMember({"text", "json"}));
    app.set_version_flag("--version", [] { return starbus::version_line("starbus-broker"); },
                         "print the release, the protocol version and the libzmq version, then exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    auto logger = spdlog::stderr_color_mt("starbus");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(log_level));
    const auto log_format = log_format_name == "json" ? starbus::log_format::json : starbus::log_format::text;
    if (log_format == starbus::log_format::json) starbus::set_log_format(log_format, name);  // the name may come later

    try {
        starbus::broker_options options;
        if (cluster_file.empty()) {
            options.cluster = starbus::builtin_cluster(1);
            if (name.empty()) name = options.cluster.primary().name;
        } else {
            options.cluster = starbus::load_cluster_file(cluster_file);
            if (name.empty()) {
                if (options.cluster.brokers.size() != 1)
                    throw starbus::config_error("--name is required: say which broker of " + cluster_file +
                                                " this process is");
                name = options.cluster.primary().name;
            }
        }
        options.name = name;
        if (const starbus::broker_info* me = options.cluster.find(name)) options.http = me->http;
        if (!http.empty()) options.http = http;
        options.data_dir = data_dir.empty() ? std::filesystem::path("starbus-data") / name : std::filesystem::path(data_dir);
        starbus::set_log_format(log_format, name);
        if (!key_file.empty()) {
            options.key = starbus::load_secret_key_file(key_file);
            if (starbus::readable_by_others(key_file))
                spdlog::warn("security: {} may be read by other users: a secret key file should be mode 0600 "
                             "(chmod 600 {})", key_file, key_file);
        }

        std::signal(SIGTERM, on_signal);
        std::signal(SIGINT, on_signal);
        std::signal(SIGPIPE, SIG_IGN);
        starbus::broker b(std::move(options));
        b.run(stop_requested);
        spdlog::info("stopped cleanly");
        return 0;
    } catch (const starbus::key_error& e) {
        spdlog::error("{}", e.what());
        return 2;
    } catch (const starbus::config_error& e) {
        spdlog::error("{}", e.what());
        return 2;
    } catch (const starbus::storage_error& e) {
        spdlog::error("{}", e.what());
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("broker stopped by an unexpected error: {}", e.what());
        return 1;
    }
}
