// File: operator_views.cpp
#include "operator_views.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <starbus/wire/vocabulary.hpp>

namespace starbus {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
    return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric gauge_of(double v, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    return m;
}

ClientMetric counter_of(double v, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = v;
    return m;
}

void add_gauge(std::vector<MetricFamily>& out, const char* name, const char* help, double v) {
    out.push_back(family(name, help, MetricType::Gauge));
    out.back().metric.push_back(gauge_of(v));
}

void add_counter(std::vector<MetricFamily>& out, const char* name, const char* help, double v) {
    out.push_back(family(name, help, MetricType::Counter));
    out.back().metric.push_back(counter_of(v));
}

void add_labelled_counters(std::vector<MetricFamily>& out, const char* name, const char* help, const char* label,
                           const std::map<std::string, std::uint64_t>& values) {
    out.push_back(family(name, help, MetricType::Counter));
    for (const auto& [key, v] : values) out.back().metric.push_back(counter_of(static_cast<double>(v), {{label, key}}));
}

std::string utc_text(std::int64_t unix_ms) {
    const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03d", static_cast<int>(unix_ms % 1000));
    return std::string(buf) + ms + " UTC";
}

std::string html_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string ago_text(std::int64_t ms) {
    if (ms < 0) return "never";
    if (ms < 10000) return std::to_string(ms) + " ms ago";
    return std::to_string(ms / 1000) + " s ago";
}

}  // namespace

process_figures read_process_figures() {
    process_figures p;
    std::ifstream statm("/proc/self/statm");
    double pages_total = 0, pages_resident = 0;
    if (statm >> pages_total >> pages_resident)
        p.resident_bytes = pages_resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++p.open_fds;
    // /proc/self/stat: fields 14 and 15 are utime and stime in clock ticks, 22 the start time since boot.
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close != std::string::npos) {
        std::istringstream fields(text.substr(close + 2));
        std::string f;
        double utime = 0, stime = 0;
        for (int i = 3; fields >> f; ++i) {
            if (i == 14) utime = std::stod(f);
            if (i == 15) stime = std::stod(f);
        }
        p.cpu_seconds = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return p;
}

std::string render_metrics(const broker_report& r, const process_figures& p) {
    std::vector<MetricFamily> out;
    out.push_back(family("starbus_state", "1 for the broker's current state, 0 for the others", MetricType::Gauge));
    for (int s = 0; s < broker_state_count; ++s) {
        const auto state = static_cast<broker_state>(s);
        out.back().metric.push_back(gauge_of(state == r.state ? 1 : 0, {{"state", std::string(to_string(state))}}));
    }
    add_gauge(out, "starbus_epoch", "the highest epoch this broker knows", static_cast<double>(r.epoch));
    add_gauge(out, "starbus_seq", "the position (seq) of the last change this broker holds", static_cast<double>(r.seq));
    if (r.commit_seq)
        add_gauge(out, "starbus_commit_seq", "the server's commit point: the last change acknowledged to clients",
                  static_cast<double>(*r.commit_seq));
    add_counter(out, "starbus_serving_starts_total", "times this broker began to serve",
                static_cast<double>(r.serving_starts));
    add_counter(out, "starbus_role_changes_total", "state changes of this broker's role (FSM transitions)",
                static_cast<double>(r.role_changes));
    out.push_back(family("starbus_replica_lag", "on the server: changes a replica has not acknowledged yet",
                         MetricType::Gauge));
    for (const auto& b : r.brokers)
        if (b.lag) out.back().metric.push_back(gauge_of(static_cast<double>(*b.lag), {{"replica", b.name}}));
    out.push_back(family("starbus_replica_synchronised",
                         "on the server: 1 when a replica holds everything it was sent and counts for acknowledgements",
                         MetricType::Gauge));
    for (const auto& b : r.brokers)
        if (b.lag) out.back().metric.push_back(gauge_of(b.synchronised ? 1 : 0, {{"replica", b.name}}));
    add_labelled_counters(out, "starbus_requests_total", "requests received, by command", "command", r.requests);
    add_labelled_counters(out, "starbus_refused_total", "requests and handshakes refused, by reason", "reason",
                          r.refused);
    add_counter(out, "starbus_bus_messages_total", "bus messages this broker accepted",
                static_cast<double>(r.bus_messages));
    add_gauge(out, "starbus_bus_retained", "bus messages held in the bus log", static_cast<double>(r.bus_retained));
    add_gauge(out, "starbus_clients", "clients heard recently", static_cast<double>(r.clients));
    add_gauge(out, "starbus_files", "files in the replicated file store", static_cast<double>(r.files));
    add_gauge(out, "starbus_file_bytes", "bytes of those files", static_cast<double>(r.file_bytes));
    out.push_back(family("starbus_fsync_seconds",
                         "time of each flush of the change log that made a batch durable (write and fdatasync)",
                         MetricType::Histogram));
    ClientMetric h;
    h.histogram.sample_count = r.fsync.count;
    h.histogram.sample_sum = r.fsync.sum_seconds;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < fsync_buckets.size(); ++i) {
        cumulative += r.fsync.counts[i];
        h.histogram.bucket.push_back({cumulative, fsync_buckets[i]});
    }
    h.histogram.bucket.push_back({r.fsync.count, std::numeric_limits<double>::infinity()});
    out.back().metric.push_back(h);
    add_gauge(out, "process_resident_memory_bytes", "resident memory size in bytes", p.resident_bytes);
    add_gauge(out, "process_open_fds", "number of open file descriptors", p.open_fds);
    add_counter(out, "process_cpu_seconds_total", "user and system CPU time spent in seconds", p.cpu_seconds);
    std::ostringstream text;
    prometheus::TextSerializer{}.Serialize(text, out);
    return text.str();
}

probe_answer liveness(std::chrono::steady_clock::time_point last_turn, std::chrono::steady_clock::time_point now,
                      std::chrono::milliseconds limit) {
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_turn);
    if (idle <= limit) return {200, "ok: the reactor turned " + std::to_string(idle.count()) + " ms ago\n"};
    return {503, "stuck: the reactor has not turned for " + std::to_string(idle.count()) + " ms (limit " +
                     std::to_string(limit.count()) + " ms)\n"};
}

probe_answer readiness(const broker_report& r) {
    if (r.state == broker_state::active || r.state == broker_state::handover)
        return {200, "ok: " + r.name + " serves (" + std::string(to_string(r.state)) + ")\n"};
    if (r.state == broker_state::passive && r.synchronised_replica)
        return {200, "ok: " + r.name + " is a synchronised replica of " + r.server + "\n"};
    return {503, "not ready: " + r.name + " is " + std::string(to_string(r.state)) +
                     (r.note.empty() ? std::string() : ": " + r.note) + "\n"};
}

std::string render_status_json(const broker_report& r) {
    nlohmann::json doc;
    doc["broker"] = r.name;
    doc["release"] = r.release;
    doc["protocol"] = r.protocol;
    doc["libzmq"] = r.libzmq;
    doc["rank"] = r.rank;
    doc["state"] = std::string(to_string(r.state));
    doc["role"] = std::string(role_name(r.state));
    doc["epoch"] = r.epoch;
    doc["seq"] = r.seq;
    if (r.commit_seq) doc["commit_seq"] = *r.commit_seq;
    doc["server"] = r.server;
    doc["note"] = r.note;
    doc["ready"] = readiness(r).status == 200;
    doc["time"] = utc_text(r.made_unix_ms);
    nlohmann::json brokers = nlohmann::json::array();
    for (const auto& b : r.brokers) {
        nlohmann::json j{{"name", b.name},   {"rank", b.rank},  {"self", b.self},  {"state", b.state},
                         {"epoch", b.epoch}, {"seq", b.seq},    {"heard_ms_ago", b.heard_ms_ago}};
        if (b.lag) {
            j["lag"] = *b.lag;
            j["synchronised"] = b.synchronised;
        }
        brokers.push_back(std::move(j));
    }
    doc["brokers"] = std::move(brokers);
    nlohmann::json transitions = nlohmann::json::array();
    for (const auto& t : r.transitions)
        transitions.push_back({{"time", utc_text(t.unix_ms)}, {"from", t.from}, {"event", t.event}, {"to", t.to},
                               {"why", t.why}});
    doc["transitions"] = std::move(transitions);
    return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string render_status_page(const broker_report& r, int refresh_seconds) {
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    h += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(refresh_seconds) + "\">\n";
    h += "<title>starbus " + html_escaped(r.name) + ": " + html_escaped(to_string(r.state)) + "</title>\n";
    h += "<style>body{font-family:system-ui,sans-serif;margin:1em;color:#222}"
         "table{border-collapse:collapse;width:100%;margin-bottom:1em}"
         "th,td{border-bottom:1px solid #ccc;padding:.3em .5em;text-align:left;font-size:.95em}"
         "th{background:#f2f2f2}.active{color:#070;font-weight:bold}.down{color:#a00}"
         ".wrap{overflow-x:auto}small{color:#666}</style></head><body>\n";
    h += "<h1>starbus: broker " + html_escaped(r.name) + "</h1>\n";
    h += "<p id=\"summary\">" + html_escaped(r.name) + " (rank " + std::to_string(r.rank) + ") is <b>" +
         html_escaped(to_string(r.state)) + "</b>, epoch " + std::to_string(r.epoch) + ", position " +
         std::to_string(r.seq) + (r.server.empty() ? "" : "; the server is " + html_escaped(r.server)) +
         (r.note.empty() ? "" : ". " + html_escaped(r.note)) + "</p>\n";
    h += "<div class=\"wrap\"><table id=\"brokers\"><tr><th>rank</th><th>broker</th><th>role</th><th>state</th>"
         "<th>epoch</th><th>position</th><th>lag</th><th>heard</th></tr>\n";
    for (const auto& b : r.brokers) {
        const std::string state = b.state.empty() ? "down" : b.state;
        const std::string role = b.state.empty() ? "down"
                                 : b.state == "active" || b.state == "handover" ? "server"
                                                                                : "replica";
        h += "<tr class=\"" + html_escaped(state == "active" ? "active" : b.heard_ms_ago < 0 ? "down" : "") + "\">";
        h += "<td>" + std::to_string(b.rank) + "</td><td>" + html_escaped(b.name) + (b.self ? " (this)" : "") +
             "</td><td>" + role + "</td><td>" + html_escaped(state) + "</td><td>" + std::to_string(b.epoch) +
             "</td><td>" + std::to_string(b.seq) + "</td><td>" +
             (b.lag ? std::to_string(*b.lag) + (b.synchronised ? "" : " (syncing)") : std::string("-")) +
             "</td><td>" + (b.self ? std::string("-") : ago_text(b.heard_ms_ago)) + "</td></tr>\n";
    }
    h += "</table></div>\n<h2>Last role transitions</h2>\n<div class=\"wrap\"><table id=\"transitions\">"
         "<tr><th>time</th><th>from</th><th>event</th><th>to</th><th>why</th></tr>\n";
    for (auto it = r.transitions.rbegin(); it != r.transitions.rend(); ++it)
        h += "<tr><td>" + html_escaped(utc_text(it->unix_ms)) + "</td><td>" + html_escaped(it->from) + "</td><td>" +
             html_escaped(it->event) + "</td><td>" + html_escaped(it->to) + "</td><td>" + html_escaped(it->why) +
             "</td></tr>\n";
    h += "</table></div>\n<p><small>As " + html_escaped(r.name) + " saw it at " + html_escaped(utc_text(r.made_unix_ms)) +
         "; starbus " + html_escaped(r.release) + ", protocol " + std::to_string(r.protocol) + ", libzmq " +
         html_escaped(r.libzmq) + "; refreshes every " + std::to_string(refresh_seconds) +
         " s. <a href=\"status.json\">status.json</a> · <a href=\"metrics\">metrics</a></small></p>\n";
    h += "</body></html>\n";
    return h;
}

}  // namespace starbus
