// File: cluster_config.hpp
// The cluster file (TOML): heartbeat interval and the brokers in rank order.
// Each broker listens on three ports derived from its endpoint tcp://HOST:P:
//   P     requests (ROUTER): clients, replicas, operators
//   P+1   publications (PUB): bus messages and committed state changes
//   P+2   heartbeats (PUB): broker-to-broker liveness and state
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <starbus/wire/access_entry.hpp>

namespace starbus {

// A broken cluster file or command line: the message says what to fix.
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// What an acknowledgement waits for (docs/protocol.md "Reliability").
enum class ack_mode : std::uint8_t {
    local,    // the server's own log only
    replica,  // and the next live synchronised replica in rank order (default)
    all,      // and every live synchronised replica
};

// How the change log reaches the disk.
enum class fsync_mode : std::uint8_t {
    batch,  // fdatasync once per reactor batch, before its acknowledgements (default)
    never,  // write() only: survives a killed process, not a power cut
};

// How files move (cluster file table [files]); docs/protocol.md "File transfer".
struct file_settings {
    // Bytes a receiver asks for per FETCH (the last chunk of a file may be shorter).
    std::uint64_t chunk_bytes = 256 * 1024;
    // Bytes a receiver keeps asked for and not yet received, over all the files
    // it fetches at once (its credit): at least one chunk.
    std::uint64_t credit_bytes = 2 * 1024 * 1024;
    // The largest file the cluster accepts (FILE-PUT of a larger one: TOO_LARGE).
    std::uint64_t max_file_bytes = std::uint64_t{64} << 30;
};

// The bus log (cluster file table [bus]); docs/protocol.md "The bus".
struct bus_settings {
    // Messages retained for subscribers that resume (0: none: bus messages are
    // then neither logged nor replicated, and a subscriber may miss some).
    std::size_t retain_messages = 100000;
    std::uint64_t retain_bytes = 64ull << 20;  // topic + payload bytes retained
    std::uint64_t retain_seconds = 3600;       // 0: no age limit
};

// What a server does when its ack mode needs a replica and none is live and
// synchronised (it is alone): accept writes on its own log (Binary Star's
// availability), or refuse them until a replica is back (nothing acknowledged
// rests on one broker).
enum class alone_policy : std::uint8_t { accept, refuse };

// Who may talk to the brokers (cluster file table [security]); docs/security.md.
enum class security_mode : std::uint8_t {
    none,   // plaintext, anyone who reaches a port may do anything (trusted networks only)
    curve,  // CURVE on every port; brokers known by their keys, clients by the access list
};

// One [[client]] table: an entry of the initial access list.
struct client_grant {
    std::string name;
    access_role role = access_role::reader;
    std::string public_key;  // Z85
};

struct security_settings {
    security_mode mode = security_mode::none;
    std::vector<client_grant> clients;  // the initial access list; `starbus access` changes it later
};

struct broker_info {
    std::string name;
    std::uint32_t rank = 0;
    std::string endpoint;  // as written: tcp://HOST:P
    std::string host;
    std::uint16_t port = 0;
    std::string public_key;  // Z85 CURVE public key (required with security mode curve)
    std::string http;        // HOST:PORT of its HTTP endpoint for operators ("": none); docs/deploy.md

    [[nodiscard]] std::string request_endpoint() const;    // tcp://HOST:P, to connect to
    [[nodiscard]] std::string publish_endpoint() const;    // tcp://HOST:P+1
    [[nodiscard]] std::string heartbeat_endpoint() const;  // tcp://HOST:P+2
    // Where to bind each: HOST when it is a numeric address, else every interface.
    [[nodiscard]] std::string bind_endpoint(std::uint16_t offset) const;
};

struct cluster_config {
    std::chrono::milliseconds heartbeat{1000};
    // A peer silent this long is considered dead. Default: 3 heartbeats.
    std::chrono::milliseconds expiry{3000};
    ack_mode ack = ack_mode::replica;
    fsync_mode fsync = fsync_mode::batch;
    file_settings files;
    bus_settings bus;
    alone_policy when_alone = alone_policy::accept;
    security_settings security;
    std::vector<broker_info> brokers;  // rank order; brokers[0] is the primary

    [[nodiscard]] const broker_info* find(std::string_view name) const;
    // The broker whose public key this is (nullptr: none).
    [[nodiscard]] const broker_info* find_by_key(std::string_view public_key) const;
    [[nodiscard]] bool curve() const { return security.mode == security_mode::curve; }
    [[nodiscard]] const broker_info& primary() const { return brokers.front(); }
};

// Parses a cluster file's text; `source` names it in error messages.
[[nodiscard]] cluster_config parse_cluster(std::string_view toml_text, const std::string& source);
[[nodiscard]] cluster_config load_cluster_file(const std::string& path);

// The built-in configuration: `count` brokers named A, B, C... on 127.0.0.1,
// ports 5670, 5680, 5690...; heartbeat 1000 ms. count 1 is the single primary.
[[nodiscard]] cluster_config builtin_cluster(std::size_t count);

}  // namespace starbus
