// File: file_transfers.hpp
// The client's half of file transfers (docs/protocol.md "File transfer"),
// driven by the session over its one DEALER to the server:
//   downloads  a fetch_queue (file_fetch.hpp): FETCH requests to the server
//              within the credit, CHUNKs written to temporary files; after a
//              failover the session calls restart() and every file resumes
//              at the offset it had reached, from the new server;
//   uploads    the local files a FILE-PUT offered: the server asks for their
//              chunks (FETCH to us) and each is read straight into its CHUNK
//              frame.
// Results are kept by tag until the caller (fetch_file, the mirror) takes
// them. A building block of starbus::client.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <starbus/files/file_fetch.hpp>
#include <starbus/files/unique_fd.hpp>

namespace starbus::client_detail {

class file_transfers {
  public:
    file_transfers(const fetch_settings& settings, std::function<std::uint64_t()> next_request_id);

    // ---- downloads ----
    void download(const file_entry& e, std::filesystem::path temp_path, std::uint64_t tag) {
        _downloads.add(e, std::move(temp_path), tag);
    }
    bool cancel(std::uint64_t tag) { return _downloads.cancel(tag); }
    // The FETCH frames to send now (within the credit).
    [[nodiscard]] std::vector<std::string> orders();
    // A CHUNK from the server.
    chunk_outcome on_chunk(const file_chunk_view& c) { return _downloads.on_chunk(c); }
    // An ERROR answering one of our FETCHes: true when it was one (the
    // download is given up; take_failed() reports it).
    bool on_error(std::uint64_t request_id) { return _downloads.on_stale(request_id).has_value(); }
    // The connection was replaced: requests in flight are gone; resume.
    void restart() { _downloads.restart(); }
    [[nodiscard]] std::vector<fetched_file> take_completed() { return _downloads.take_completed(); }
    [[nodiscard]] std::vector<fetch_failure> take_failed() { return _downloads.take_failed(); }
    [[nodiscard]] const fetch_queue& downloads() const { return _downloads; }
    [[nodiscard]] std::optional<std::uint64_t> reached(std::uint64_t tag) const { return _downloads.reached(tag); }

    // ---- uploads ----
    // Offers `local` (already hashed: `entry`) for the server to fetch.
    // False, with `why`, when it cannot be opened.
    bool offer(const file_entry& entry, const std::filesystem::path& local, std::string* why);
    void withdraw(const std::string& path, const std::string& hash);
    // The server asked for a chunk of an offered file: the CHUNK frame to
    // send, or an ERROR frame when it is not offered or cannot be read.
    [[nodiscard]] zmq::message_t serve(const fetch_request& r);
    // Bytes served for an offered file since it was offered (progress).
    [[nodiscard]] std::uint64_t served(const std::string& path, const std::string& hash) const;

  private:
    struct offered {
        file_entry entry;
        unique_fd fd;
        std::uint64_t served = 0;  // highest offset + length sent
    };

    fetch_queue _downloads;
    std::map<std::pair<std::string, std::string>, offered> _offered;  // (path, hash) -> file
};

}  // namespace starbus::client_detail
