// File: upload_receiver.hpp
// The server's side of `starbus put`: for every FILE-PUT whose content the
// store lacks, the server is the receiver of a transfer from the client. It
// asks the client for chunks (FETCH to the client's identity, within the
// credit), checks them like any download (file_fetch.hpp: chunk checksum,
// XXH3-128 and SHA-256 of the whole file against what FILE-PUT declared),
// and hands the verified file to the installer; only then is the file change
// applied and, once acknowledged, answered. An upload idle for too long (the
// client went away) is dropped with its temporary file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <starbus/files/file_fetch.hpp>

#include "peer_view.hpp"

namespace starbus {

// One upload: who sends it and which request it answers.
struct upload {
    std::string identity;        // the client's ROUTER identity (updated when it re-sends FILE-PUT)
    std::uint64_t client_id = 0;
    std::uint64_t request_id = 0;
    file_entry entry;            // path, size and digests as FILE-PUT declared them
    steady_time last_progress{};
};

class upload_receiver {
  public:
    upload_receiver(const file_settings& files, std::function<std::uint64_t()> next_request_id);

    // Starts receiving `entry` from `identity` into `temp_path`.
    void start(const std::string& identity, std::uint64_t client_id, std::uint64_t request_id,
               const file_entry& entry, std::filesystem::path temp_path, steady_time now);
    // The upload of a request, if one is in progress (a re-sent FILE-PUT finds it).
    [[nodiscard]] upload* find(std::uint64_t client_id, std::uint64_t request_id);
    // The client re-sent its FILE-PUT (maybe on a new connection): continue from where it stopped.
    void resume(upload& u, const std::string& identity);

    // FETCH requests to send, each with the identity to send it to.
    [[nodiscard]] std::vector<std::pair<std::string, fetch_request>> orders();
    // A CHUNK from `identity`: accepted or dropped.
    chunk_outcome on_chunk(const std::string& identity, const file_chunk_view& c, steady_time now);
    // The client answered a FETCH with an ERROR (it cannot read its file): the upload is failed.
    bool on_error(std::uint64_t request_id);

    struct finished {
        upload u;
        std::optional<fetched_file> file;  // set when verified
        std::string error;                 // else why it failed
        bool stale = false;                // the client said it no longer has that version
        bool content_mismatch = false;     // what it sent, whole, twice, is not what its FILE-PUT declared
    };
    // Uploads that ended (verified or failed) since the last call.
    [[nodiscard]] std::vector<finished> take_finished();
    // Drops uploads without progress for `idle`; returns them.
    std::vector<upload> expire(steady_time now, std::chrono::milliseconds idle);
    // Drops everything (the broker stopped serving).
    void clear();

    [[nodiscard]] std::size_t active() const { return _uploads.size(); }
    [[nodiscard]] std::uint64_t pending_bytes() const { return _queue.pending_bytes(); }
    // Hashes being uploaded (not to be collected meanwhile).
    [[nodiscard]] std::vector<std::string> hashes() const;

  private:
    fetch_queue _queue;
    std::uint64_t _last_tag = 0;
    std::unordered_map<std::uint64_t, upload> _uploads;  // by tag
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> _by_request;  // (client, request) -> tag
};

}  // namespace starbus
