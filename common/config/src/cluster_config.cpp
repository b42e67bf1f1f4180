// File: cluster_config.cpp
// Reads and checks the cluster file with toml++; every error names the file,
// the broker and what to change.
#include <starbus/config/cluster_config.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <set>

#include <toml++/toml.h>

#include <starbus/wire/types.hpp>

namespace starbus {
namespace {

bool is_numeric_host(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

// Splits tcp://HOST:PORT; HOST may be [v6].
void parse_endpoint(broker_info& b, const std::string& where) {
    const std::string scheme = "tcp://";
    if (b.endpoint.rfind(scheme, 0) != 0)
        throw config_error(where + ": endpoint \"" + b.endpoint + "\" must look like tcp://HOST:PORT");
    std::string rest = b.endpoint.substr(scheme.size());
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
        throw config_error(where + ": endpoint \"" + b.endpoint + "\" has no HOST:PORT");
    b.host = rest.substr(0, colon);
    std::string port_text = rest.substr(colon + 1);
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port == 0 || port > 65533)
        throw config_error(where + ": port \"" + port_text +
                           "\" must be a number from 1 to 65533 (P+1 and P+2 are used too)");
    b.port = static_cast<std::uint16_t>(port);
}

// One whole number (of `unit`) from `table`, within [low, high].
void read_whole(const toml::table& t, const char* key, std::uint64_t& out, std::uint64_t low, std::uint64_t high,
                const std::string& source, const char* table, const char* unit) {
    auto node = t[key];
    if (!node) return;
    auto v = node.is_integer() ? node.value<std::int64_t>() : std::nullopt;
    if (!v || *v < 0 || static_cast<std::uint64_t>(*v) < low || static_cast<std::uint64_t>(*v) > high)
        throw config_error(source + ": " + table + " " + key + " must be a whole number of " + unit + " from " +
                           std::to_string(low) + " to " + std::to_string(high));
    out = static_cast<std::uint64_t>(*v);
}

void read_bytes(const toml::table& t, const char* key, std::uint64_t& out, std::uint64_t low, std::uint64_t high,
                const std::string& source) {
    read_whole(t, key, out, low, high, source, "[files]", "bytes");
}

void parse_file_settings(const toml::table& t, file_settings& f, const std::string& source) {
    for (const auto& [key, value] : t)
        if (key.str() != "chunk_bytes" && key.str() != "credit_bytes" && key.str() != "max_file_bytes")
            throw config_error(source + ": unknown key \"" + std::string(key.str()) +
                               "\" in [files] (known: chunk_bytes, credit_bytes, max_file_bytes)");
    read_bytes(t, "chunk_bytes", f.chunk_bytes, 4096, 4 * 1024 * 1024, source);
    read_bytes(t, "credit_bytes", f.credit_bytes, 4096, std::uint64_t{1} << 30, source);
    read_bytes(t, "max_file_bytes", f.max_file_bytes, 1, std::uint64_t{1} << 50, source);
    if (f.credit_bytes < f.chunk_bytes)
        throw config_error(source + ": [files] credit_bytes (" + std::to_string(f.credit_bytes) +
                           ") must be at least chunk_bytes (" + std::to_string(f.chunk_bytes) +
                           "): a receiver must be able to ask for one whole chunk");
}

}  // namespace

std::string broker_info::request_endpoint() const { return endpoint; }
std::string broker_info::publish_endpoint() const {
    return "tcp://" + host + ":" + std::to_string(port + 1);
}
std::string broker_info::heartbeat_endpoint() const {
    return "tcp://" + host + ":" + std::to_string(port + 2);
}
std::string broker_info::bind_endpoint(std::uint16_t offset) const {
    const std::string h = is_numeric_host(host) ? host : "*";
    return "tcp://" + h + ":" + std::to_string(port + offset);
}

const broker_info* cluster_config::find(std::string_view name) const {
    for (const auto& b : brokers)
        if (b.name == name) return &b;
    return nullptr;
}

const broker_info* cluster_config::find_by_key(std::string_view public_key) const {
    if (public_key.empty()) return nullptr;
    for (const auto& b : brokers)
        if (b.public_key == public_key) return &b;
    return nullptr;
}

namespace {

toml::table parse_toml(std::string_view toml_text, const std::string& source) {
    try {
        return toml::parse(toml_text, source);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw config_error(source + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                           ": not valid TOML: " + std::string(e.description()));
    }
}

void check_top_level_keys(const toml::table& root, const std::string& source) {
    static const std::set<std::string> known_keys = {"heartbeat_ms", "expiry_ms", "ack",    "fsync",   "when_alone",
                                                     "files",        "bus",       "broker", "security", "client"};
    for (const auto& [key, value] : root) {
        if (!known_keys.count(std::string(key.str())))
            throw config_error(source + ": unknown setting \"" + std::string(key.str()) +
                               "\" (known: heartbeat_ms, expiry_ms, ack, fsync, when_alone, [files], [bus], "
                               "[security], [[broker]], [[client]])");
    }
}

// heartbeat_ms and expiry_ms (three heartbeats unless given).
void parse_timing(const toml::table& root, cluster_config& cfg, const std::string& source) {
    if (auto hb = root["heartbeat_ms"]; hb) {
        // Read as an integer only when it is one: toml++ converts a float to int64_t with a
        // cast that is undefined behaviour out of range (expiry_ms = 5e33; found by fuzz_cluster_file).
        auto v = hb.is_integer() ? hb.value<std::int64_t>() : std::nullopt;
        if (!v || !hb.is_integer() || *v < 10 || *v > 60000)
            throw config_error(source + ": heartbeat_ms must be a whole number of milliseconds from 10 to 60000");
        cfg.heartbeat = std::chrono::milliseconds(*v);
    }
    cfg.expiry = cfg.heartbeat * 3;
    if (auto ex = root["expiry_ms"]; ex) {
        auto v = ex.is_integer() ? ex.value<std::int64_t>() : std::nullopt;  // as heartbeat_ms
        if (!v || !ex.is_integer() || *v < 2 * cfg.heartbeat.count() || *v > 600000)
            throw config_error(source + ": expiry_ms must be a whole number of at least two heartbeats (" +
                               std::to_string(2 * cfg.heartbeat.count()) + ")");
        cfg.expiry = std::chrono::milliseconds(*v);
    }
}

// ack, fsync and when_alone.
void parse_modes(const toml::table& root, cluster_config& cfg, const std::string& source) {
    if (auto ack = root["ack"]; ack) {
        auto v = ack.value<std::string>();
        if (v == "local") cfg.ack = ack_mode::local;
        else if (v == "replica") cfg.ack = ack_mode::replica;
        else if (v == "all") cfg.ack = ack_mode::all;
        else throw config_error(source + ": ack must be \"local\", \"replica\" or \"all\"");
    }
    if (auto fs = root["fsync"]; fs) {
        auto v = fs.value<std::string>();
        if (v == "batch") cfg.fsync = fsync_mode::batch;
        else if (v == "never") cfg.fsync = fsync_mode::never;
        else throw config_error(source + ": fsync must be \"batch\" or \"never\"");
    }
    if (auto alone = root["when_alone"]; alone) {
        auto v = alone.value<std::string>();
        if (v == "accept") cfg.when_alone = alone_policy::accept;
        else if (v == "refuse") cfg.when_alone = alone_policy::refuse;
        else throw config_error(source + ": when_alone must be \"accept\" or \"refuse\"");
    }
}

void parse_bus(const toml::node_view<const toml::node> bus, cluster_config& cfg, const std::string& source) {
    const toml::table* t = bus.as_table();
    if (!t) throw config_error(source + ": bus must be a table: write it as [bus]");
    for (const auto& [key, value] : *t)
        if (key.str() != "retain_messages" && key.str() != "retain_bytes" && key.str() != "retain_seconds")
            throw config_error(source + ": unknown key \"" + std::string(key.str()) +
                               "\" in [bus] (known: retain_messages, retain_bytes, retain_seconds)");
    std::uint64_t messages = cfg.bus.retain_messages;
    read_whole(*t, "retain_messages", messages, 0, 100000000, source, "[bus]", "messages");
    cfg.bus.retain_messages = static_cast<std::size_t>(messages);
    read_whole(*t, "retain_bytes", cfg.bus.retain_bytes, 0, std::uint64_t{1} << 40, source, "[bus]", "bytes");
    read_whole(*t, "retain_seconds", cfg.bus.retain_seconds, 0, std::uint64_t{10} * 365 * 86400, source, "[bus]",
               "seconds");
}

// One [[broker]] table: its rank is its place in the list; names and ports must not repeat.
broker_info parse_broker(const toml::table& t, std::uint32_t rank, const std::string& where,
                         std::set<std::string>& names, std::set<std::pair<std::string, std::uint16_t>>& ports) {
    for (const auto& [key, value] : t)
        if (key.str() != "name" && key.str() != "endpoint" && key.str() != "public_key" && key.str() != "http")
            throw config_error(where + ": unknown key \"" + std::string(key.str()) +
                               "\" (known: name, endpoint, public_key, http)");
    broker_info b;
    b.rank = rank;
    auto name = t["name"].value<std::string>();
    auto endpoint = t["endpoint"].value<std::string>();
    if (!name) throw config_error(where + ": name is missing or not a string");
    if (!endpoint) throw config_error(where + " (" + *name + "): endpoint is missing or not a string");
    b.name = *name;
    b.endpoint = *endpoint;
    if (auto e = name_error(b.name); !e.empty()) throw config_error(where + ": name \"" + b.name + "\" " + e);
    parse_endpoint(b, where + " (" + b.name + ")");
    if (auto key = t["public_key"]; key) {
        auto text = key.value<std::string>();
        if (!text || !is_z85_key(*text))
            throw config_error(where + " (" + b.name + "): public_key must be a 40-character Z85 CURVE public key "
                                       "(the public-key line of the .pub file `starbus keygen " + b.name +
                               "` writes)");
        b.public_key = *text;
    }
    if (auto http = t["http"]; http) {
        auto text = http.value<std::string>();
        const auto colon = text ? text->rfind(':') : std::string::npos;
        unsigned port = 0;
        const bool numeric_port =
            colon != std::string::npos && colon > 0 && colon + 1 < text->size() &&
            std::from_chars(text->data() + colon + 1, text->data() + text->size(), port).ptr == text->data() + text->size();
        if (!numeric_port || port > 65535)
            throw config_error(where + " (" + b.name + "): http must be \"HOST:PORT\" (e.g. \"127.0.0.1:8080\"): the "
                                                       "address of the broker's HTTP endpoint for operators");
        b.http = *text;
    }
    if (!names.insert(b.name).second)
        throw config_error(where + ": duplicate broker name \"" + b.name + "\": names must be unique");
    for (std::uint16_t off = 0; off < 3; ++off)
        if (!ports.insert({b.host, static_cast<std::uint16_t>(b.port + off)}).second)
            throw config_error(where + " (" + b.name + "): port " + std::to_string(b.port + off) + " on " + b.host +
                               " is used by another broker (each broker uses P, P+1 and P+2)");
    return b;
}

void parse_brokers(const toml::table& root, cluster_config& cfg, const std::string& source) {
    const toml::array* list = root["broker"].as_array();
    if (!list || list->empty())
        throw config_error(source + ": no brokers: add one [[broker]] table per broker, in rank order, "
                                    "each with name and endpoint");
    if (list->size() > epoch_stride)
        throw config_error(source + ": " + std::to_string(list->size()) + " brokers: a cluster has at most " +
                           std::to_string(epoch_stride));
    std::set<std::string> names;
    std::set<std::pair<std::string, std::uint16_t>> ports;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string where = source + ": broker #" + std::to_string(i + 1);
        const toml::table* t = (*list)[i].as_table();
        if (!t) throw config_error(where + " is not a table: write it as [[broker]]");
        cfg.brokers.push_back(parse_broker(*t, static_cast<std::uint32_t>(i), where, names, ports));
    }
}

// [security] mode: "none" (the default) or "curve".
void parse_security(const toml::table& root, cluster_config& cfg, const std::string& source) {
    auto node = root["security"];
    if (!node) return;
    const toml::table* t = node.as_table();
    if (!t) throw config_error(source + ": security must be a table: write it as [security]");
    for (const auto& [key, value] : *t)
        if (key.str() != "mode")
            throw config_error(source + ": unknown key \"" + std::string(key.str()) + "\" in [security] (known: mode)");
    if (auto mode = (*t)["mode"]; mode) {
        auto v = mode.value<std::string>();
        if (v == "none") cfg.security.mode = security_mode::none;
        else if (v == "curve") cfg.security.mode = security_mode::curve;
        else throw config_error(source + ": [security] mode must be \"none\" or \"curve\"");
    }
}

// The [[client]] tables: the initial access list.
void parse_clients(const toml::table& root, cluster_config& cfg, const std::string& source) {
    auto node = root["client"];
    if (!node) return;
    const toml::array* list = node.as_array();
    if (!list) throw config_error(source + ": client must be a list of tables: write each as [[client]]");
    std::set<std::string> names, keys;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string where = source + ": client #" + std::to_string(i + 1);
        const toml::table* t = (*list)[i].as_table();
        if (!t) throw config_error(where + " is not a table: write it as [[client]]");
        for (const auto& [key, value] : *t)
            if (key.str() != "name" && key.str() != "role" && key.str() != "public_key")
                throw config_error(where + ": unknown key \"" + std::string(key.str()) +
                                   "\" (known: name, role, public_key)");
        client_grant g;
        auto name = (*t)["name"].value<std::string>();
        if (!name) throw config_error(where + ": name is missing or not a string");
        g.name = *name;
        if (auto e = name_error(g.name); !e.empty()) throw config_error(where + ": name \"" + g.name + "\" " + e);
        auto role = (*t)["role"].value<std::string>();
        auto parsed = role ? parse_access_role(*role) : std::nullopt;
        if (!parsed) throw config_error(where + " (" + g.name + "): role must be \"reader\", \"writer\" or \"admin\"");
        g.role = *parsed;
        auto key = (*t)["public_key"].value<std::string>();
        if (!key || !is_z85_key(*key))
            throw config_error(where + " (" + g.name + "): public_key must be a 40-character Z85 CURVE public key "
                                                       "(from the .pub file of `starbus keygen " + g.name + "`)");
        g.public_key = *key;
        if (!names.insert(g.name).second)
            throw config_error(where + ": duplicate client name \"" + g.name + "\": names must be unique");
        if (!keys.insert(g.public_key).second)
            throw config_error(where + " (" + g.name + "): this public_key is already another client's: give each "
                                                       "client a key of its own");
        cfg.security.clients.push_back(std::move(g));
    }
}

// With curve: every broker has a key, and no key names two parties.
void check_security(const cluster_config& cfg, const std::string& source) {
    std::set<std::string> keys;
    for (const auto& b : cfg.brokers) {
        if (cfg.curve() && b.public_key.empty())
            throw config_error(source + ": broker " + b.name + " has no public_key, and [security] mode is \"curve\": "
                               "run `starbus keygen " + b.name + "` and copy the public-key line of " + b.name +
                               ".pub into its [[broker]] table");
        if (!b.public_key.empty() && !keys.insert(b.public_key).second)
            throw config_error(source + ": broker " + b.name + " has the same public_key as another broker: each "
                                                               "broker needs a key of its own");
    }
    for (const auto& c : cfg.security.clients)
        if (keys.count(c.public_key))
            throw config_error(source + ": client " + c.name + " has a broker's public_key: a broker's key must "
                                                               "not be handed to a client");
}

}  // namespace

cluster_config parse_cluster(std::string_view toml_text, const std::string& source) {
    const toml::table root = parse_toml(toml_text, source);
    check_top_level_keys(root, source);
    cluster_config cfg;
    parse_timing(root, cfg, source);
    parse_modes(root, cfg, source);
    if (auto bus = root["bus"]; bus) parse_bus(bus, cfg, source);
    if (auto files = root["files"]; files) {
        const toml::table* t = files.as_table();
        if (!t) throw config_error(source + ": files must be a table: write it as [files]");
        parse_file_settings(*t, cfg.files, source);
    }
    parse_security(root, cfg, source);
    parse_clients(root, cfg, source);
    parse_brokers(root, cfg, source);
    check_security(cfg, source);
    return cfg;
}

cluster_config load_cluster_file(const std::string& path) {
    toml::table unused;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw config_error("cannot read cluster file " + path + ": check the path given to --cluster");
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        text.append(buf, n);
        if (text.size() > (1u << 20)) {
            std::fclose(f);
            throw config_error(path + ": cluster file is larger than 1 MiB");
        }
    }
    std::fclose(f);
    return parse_cluster(text, path);
}

cluster_config builtin_cluster(std::size_t count) {
    cluster_config cfg;
    for (std::size_t i = 0; i < count; ++i) {
        broker_info b;
        b.name = std::string(1, static_cast<char>('A' + i));
        b.rank = static_cast<std::uint32_t>(i);
        b.host = "127.0.0.1";
        b.port = static_cast<std::uint16_t>(5670 + 10 * i);
        b.endpoint = "tcp://127.0.0.1:" + std::to_string(b.port);
        cfg.brokers.push_back(b);
    }
    return cfg;
}

}  // namespace starbus
