// File: http_endpoint.cpp
// cpp-httplib (Debian's libcpp-httplib-dev): a small, maintained, header-only
// server with a thread pool, enough for a scraper and a browser; only this
// file includes it.
#include "http_endpoint.hpp"

#include <charconv>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <starbus/config/cluster_config.hpp>

#include "operator_views.hpp"

namespace starbus {
namespace {

constexpr int page_refresh_seconds = 2;
// Requests are GETs: anything with a body larger than this is refused (413) before it is read whole.
constexpr std::size_t max_request_body_bytes = 8 * 1024;

}  // namespace

http_address parse_http_address(const std::string& host_port) {
    const auto colon = host_port.rfind(':');
    const std::string advice = " (give HOST:PORT, e.g. 127.0.0.1:8080)";
    if (colon == std::string::npos || colon == 0)
        throw config_error("HTTP address \"" + host_port + "\" has no HOST:PORT" + advice);
    http_address a;
    a.host = host_port.substr(0, colon);
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
    if (a.host == "*") a.host = "0.0.0.0";
    const std::string port = host_port.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc{} || end != port.data() + port.size() || a.port < 0 || a.port > 65535)
        throw config_error("HTTP port \"" + port + "\" must be a number from 0 to 65535" + advice);
    return a;
}

struct http_endpoint::impl {
    httplib::Server server;
    std::thread thread;
    int port = 0;
    std::mutex report_mutex;
    std::shared_ptr<const broker_report> report;

    std::shared_ptr<const broker_report> latest() {
        std::lock_guard lock(report_mutex);
        return report;
    }
};

http_endpoint::http_endpoint(const std::string& host_port, std::chrono::milliseconds liveness_limit)
    : _impl(std::make_unique<impl>()), _last_turn(std::chrono::steady_clock::now().time_since_epoch().count()) {
    const http_address address = parse_http_address(host_port);
    httplib::Server& s = _impl->server;
    s.new_task_queue = [] { return new httplib::ThreadPool(2); };
    s.set_payload_max_length(max_request_body_bytes);
    s.set_read_timeout(5, 0);
    s.set_write_timeout(5, 0);
    s.set_keep_alive_max_count(100);
    const auto not_yet = [](httplib::Response& res) {
        res.status = 503;
        res.set_content("starting: no report yet\n", "text/plain; charset=utf-8");
    };
    s.Get("/metrics", [this, not_yet](const httplib::Request&, httplib::Response& res) {
        const auto r = _impl->latest();
        if (!r) return not_yet(res);
        res.set_content(render_metrics(*r, read_process_figures()), "text/plain; version=0.0.4; charset=utf-8");
    });
    s.Get("/livez", [this, liveness_limit](const httplib::Request&, httplib::Response& res) {
        const std::chrono::steady_clock::time_point last{
            std::chrono::steady_clock::duration(_last_turn.load(std::memory_order_relaxed))};
        const probe_answer a = liveness(last, std::chrono::steady_clock::now(), liveness_limit);
        res.status = a.status;
        res.set_content(a.body, "text/plain; charset=utf-8");
    });
    s.Get("/readyz", [this, not_yet](const httplib::Request&, httplib::Response& res) {
        const auto r = _impl->latest();
        if (!r) return not_yet(res);
        const probe_answer a = readiness(*r);
        res.status = a.status;
        res.set_content(a.body, "text/plain; charset=utf-8");
    });
    s.Get("/status.json", [this, not_yet](const httplib::Request&, httplib::Response& res) {
        const auto r = _impl->latest();
        if (!r) return not_yet(res);
        res.set_content(render_status_json(*r), "application/json");
    });
    s.Get("/", [this, not_yet](const httplib::Request&, httplib::Response& res) {
        const auto r = _impl->latest();
        if (!r) return not_yet(res);
        res.set_content(render_status_page(*r, page_refresh_seconds), "text/html; charset=utf-8");
    });
    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.status == 404)
            res.set_content("no such page: " + req.path + " (try /, /status.json, /metrics, /livez, /readyz)\n",
                            "text/plain; charset=utf-8");
    });
    _impl->port = address.port == 0 ? s.bind_to_any_port(address.host) : (s.bind_to_port(address.host, address.port)
                                                                                ? address.port
                                                                                : -1);
    if (_impl->port <= 0)
        throw config_error("cannot bind the HTTP endpoint " + host_port + " (is something else listening there? "
                           "change --http or the broker's http in the cluster file)");
    _impl->thread = std::thread([this] { _impl->server.listen_after_bind(); });
    spdlog::info("http: serving /metrics, /livez, /readyz, / and /status.json on {}:{} (no authentication: keep it "
                 "on loopback or a management network)",
                 address.host, _impl->port);
}

http_endpoint::~http_endpoint() {
    _impl->server.stop();
    if (_impl->thread.joinable()) _impl->thread.join();
}

int http_endpoint::port() const { return _impl->port; }

void http_endpoint::publish(std::shared_ptr<const broker_report> report) {
    std::lock_guard lock(_impl->report_mutex);
    _impl->report = std::move(report);
}

}  // namespace starbus
