// File: operator_views.hpp
// What the HTTP endpoint answers, as pure functions of a broker_report (and
// `now`): the Prometheus text exposition (written by prometheus-cpp's
// serializer), the two probes, the status page and its JSON. No sockets, no
// threads: http_endpoint.cpp serves them, the unit tests call them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "broker_report.hpp"

namespace starbus {

// What the process costs, read from /proc/self at each scrape.
struct process_figures {
    double resident_bytes = 0;
    double open_fds = 0;
    double cpu_seconds = 0;
    double start_unix_seconds = 0;
};
[[nodiscard]] process_figures read_process_figures();

// GET /metrics: the Prometheus text format, version 0.0.4.
[[nodiscard]] std::string render_metrics(const broker_report& r, const process_figures& p);

struct probe_answer {
    int status = 200;  // 200 or 503
    std::string body;  // one line: "ok" or why not
};
// GET /livez: 200 while the reactor turns; 503 once its last turn is older than `limit`.
[[nodiscard]] probe_answer liveness(std::chrono::steady_clock::time_point last_turn,
                                    std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit);
// GET /readyz: 200 when the broker serves or is a synchronised replica, else 503 with the reason.
[[nodiscard]] probe_answer readiness(const broker_report& r);

// GET /status.json and GET /: the cluster as this broker sees it. The page refreshes itself every
// `refresh_seconds`, needs no external asset, and fits a phone's screen.
[[nodiscard]] std::string render_status_json(const broker_report& r);
[[nodiscard]] std::string render_status_page(const broker_report& r, int refresh_seconds);

}  // namespace starbus
