// File: reconciler.hpp
// What makes a split survivable (docs/protocol.md "Reconciliation"): when a
// broker's history turns out to have parted from the server's (two brokers
// served on two sides of a partition, or a server went on alone), the changes
// it holds after the fork are orphans: the server's history lacks them, and
// some were acknowledged to clients. Instead of dropping them with the old
// history, the broker keeps them on disk (DATA/orphans) and replays them to
// the server as the requests they were, with their original client and
// request ids, so that the server applies each once (its deduplication skips
// those it already has) and acknowledges it. A configuration change waits for
// the primary to serve (another server refuses it); a broker that starts
// serving applies its own orphans itself.
//
// The replay rule, deterministic: orphans land after everything the server
// did meanwhile, in their original order; for a key changed on both sides,
// the replayed value is the last one.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>
#include <starbus/wire/messages.hpp>

#include "file_store.hpp"
#include "peer_view.hpp"

namespace starbus {

class reconciler {
  public:
    // Loads what an earlier run left in `data_dir`/orphans.
    reconciler(zmq::context_t& ctx, const std::filesystem::path& data_dir, file_store& files);
    // CURVE: connect to servers as a client holding `own`, checking each server's public key.
    void secure_with(const curve_key_pair& own) { _own_key = own; }

    // Changes of this broker's history that the server's lacks (they follow
    // the fork); kept, durably, until a server acknowledges each. Those from
    // no client (id 0) are dropped: nobody waits for them.
    void adopt(const std::vector<change>& orphans);
    [[nodiscard]] bool empty() const { return _orphans.empty(); }
    [[nodiscard]] std::size_t size() const { return _orphans.size(); }

    // The broker follows `server` (nullptr: nobody): replays go there, on a DEALER of their own.
    void follow(const broker_info* server, bool server_is_primary);
    [[nodiscard]] zmq::socket_t* socket() { return _socket.get(); }
    // Reads the server's answers; sends what is due.
    void drain(steady_time now);
    void tick(steady_time now);

    // The broker serves now: what is left, in order, to apply as its own changes
    // (configuration changes only when it is the primary: the rest stays).
    [[nodiscard]] std::vector<change> take_for_server(bool primary);
    // Writes the orphans file if it changed (after the broker's log is on disk).
    void flush() { persist(); }
    // File versions orphans refer to: not to be collected.
    [[nodiscard]] std::vector<std::string> hashes() const;
    // For status notes: "replaying 3 changes to B; 2 configuration changes wait for the primary".
    [[nodiscard]] std::string describe() const;

  private:
    struct flight {
        std::uint64_t client_id = 0;
        steady_time sent{};
    };

    void load();
    void persist();
    void send_due(steady_time now);
    void finish(std::uint64_t client_id, std::uint64_t request_id);
    void serve_fetch(const fetch_request& r);

    zmq::context_t& _ctx;
    std::optional<curve_key_pair> _own_key;  // CURVE, when the cluster uses it
    std::filesystem::path _path;
    file_store& _files;
    std::vector<change> _orphans;                       // in their original order
    std::string _server;                                // whom the replays go to ("" nobody)
    bool _server_is_primary = false;
    std::unique_ptr<zmq::socket_t> _socket;
    std::map<std::uint64_t, flight> _in_flight;         // by request id (unique among those in flight)
    std::set<std::pair<std::uint64_t, std::uint64_t>> _refused;  // (client, request): config refused by this server
    steady_time _retry_at{};
    bool _dirty = false;
};

}  // namespace starbus
