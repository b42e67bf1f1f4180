// File: file_service.hpp
// The broker's file commands (docs/protocol.md "File transfer"): the manifest
// in pages (FILE-LIST), chunks read from the store straight into their frames
// (FETCH), uploads received from clients (FILE-PUT, CHUNK) and turned into file
// changes once verified and on disk, the background installer's results for
// both the server and the replica role, and the collection of versions no file
// refers to any more. Owns the uploads and the installer; the store and the
// replica are the broker's storage, shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include <starbus/config/cluster_config.hpp>
#include <starbus/files/file_install.hpp>

#include "broker_sink.hpp"
#include "file_store.hpp"
#include "follower.hpp"
#include "local_replica.hpp"
#include "peer_view.hpp"
#include "reconciler.hpp"
#include "upload_receiver.hpp"
#include "write_path.hpp"

namespace starbus {

// What a write needs to know of the broker's role (write_path::begin).
struct write_conditions {
    bool active = false;                // this broker serves and takes writes (not handing over)
    std::size_t synced_replicas = 0;    // live, confirmed, synchronised replicas
};

class file_service {
  public:
    file_service(file_store& files, local_replica& replica, write_path& writes, follower& replica_follower,
                 const reconciler& parted, broker_sink& out, const cluster_config& cluster, const broker_info& me);

    void on_list(const std::string& identity, const file_list_request& r);
    // Any broker hands out any version it holds, serving or not.
    void on_fetch(const std::string& identity, const fetch_request& r);
    void on_put(const std::string& identity, const file_put_request& r, const write_conditions& w, steady_time now);
    void on_remove(const std::string& identity, const file_remove_request& r, const write_conditions& w);
    void on_chunk(const std::string& identity, const zmq::message_t& body, steady_time now);
    // An ERROR from an uploading client answering our FETCH (its file changed or vanished). False: it answers
    // nothing this broker asked.
    bool on_client_error(std::uint64_t request_id) { return _uploads.on_error(request_id); }

    // The server's end of a batch: finished uploads go to the installer; FETCHes go out to uploading clients.
    void finish_uploads();
    void send_upload_orders();
    // The installer's results: an upload's change is logged (when still `active` and the primary), a
    // replica's fetch is reported to its follower.
    void drain_installer(bool active, steady_time now);
    // The follower's verified downloads go to the installer.
    void install_follower_files();
    // Deletes versions that flushed changes released and nothing else needs.
    void collect_garbage();
    // Drops uploads whose client went silent (once per reactor tick).
    void tick(steady_time now);
    // This broker stops serving: its uploads are dropped (clients re-send them to the new server).
    void stop_serving();

    [[nodiscard]] int installer_fd() const { return _installer.notify_fd(); }
    [[nodiscard]] std::size_t uploads() const { return _uploads.active(); }
    [[nodiscard]] std::uint64_t upload_bytes() const { return _uploads.pending_bytes(); }
    [[nodiscard]] std::uint64_t bad_chunks() const { return _bad_chunks; }

  private:
    void submit_install(fetched_file f, bool upload_owned, upload u = {});

    file_store& _files;
    local_replica& _replica;
    write_path& _writes;
    follower& _follower;
    const reconciler& _reconciler;
    broker_sink& _out;
    const cluster_config& _cluster;
    const broker_info& _me;
    background_installer _installer;
    std::uint64_t _last_upload_fetch = 0;  // request ids of the FETCHes sent to uploading clients
    upload_receiver _uploads;
    // Files in the installer: what each becomes once on disk.
    struct install_owner {
        file_entry entry;
        bool is_upload = false;  // an upload (apply its change) or a replica's fetch (tell the follower)
        starbus::upload from;
    };
    std::unordered_map<std::uint64_t, install_owner> _installing;
    std::uint64_t _last_install = 0;
    std::uint64_t _bad_chunks = 0;
};

}  // namespace starbus
