// File: nats_wire.hpp
// A minimal NATS client for starbus-bench-peers only: Debian has no packaged
// NATS C client, and the benchmark needs just the text protocol's core
// (INFO, CONNECT, PUB, SUB, MSG, PING/PONG, +OK/-ERR) over one blocking TCP
// socket. JetStream is plain NATS underneath: a stream is created by a
// request to $JS.API.STREAM.CREATE.<name>, and a publish with a reply subject
// to a stream's subject is answered with a JSON PubAck on that subject.
//
// Not a general client: no TLS, no auth, no headers (HPUB/HMSG), no
// reconnection, no async INFO handling beyond skipping it. Writes are
// buffered and go out on flush(), so a burst of publishes costs one send().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace starbus::bench::nats {

// One MSG from the server; the views are valid during the callback only.
struct message {
    std::string_view subject;
    std::string_view sid;
    std::string_view reply;
    std::string_view payload;
};

class connection {
  public:
    // Connects to host:port, reads INFO, sends CONNECT (verbose off) and
    // checks the server answers a PING. Throws std::runtime_error on failure
    // or when nothing arrives within `timeout`.
    connection(const std::string& host, int port, std::chrono::milliseconds timeout);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Queued until flush().
    void subscribe(std::string_view subject, std::string_view sid);
    void publish(std::string_view subject, std::string_view reply, std::string_view payload);
    // Writes everything queued (blocking).
    void flush();

    // Waits up to `timeout` for data, then handles every complete operation
    // received: `on_message` for each MSG, PONG for a PING. Returns how many
    // MSGs it handled. Throws on -ERR or a closed connection.
    std::size_t read_some(std::chrono::milliseconds timeout, const std::function<void(const message&)>& on_message);

    // Sends PING and handles input (MSGs to `on_message`) until the PONG:
    // afterwards the server has processed everything sent before. Returns
    // false when no PONG came within `timeout`.
    bool ping(std::chrono::milliseconds timeout, const std::function<void(const message&)>& on_message = {});

    // The INFO JSON the server sent first.
    [[nodiscard]] const std::string& info() const { return _info; }

  private:
    // Parses what is in _in; returns MSGs handled. Sets _pongs for each PONG.
    std::size_t parse(const std::function<void(const message&)>& on_message);
    bool fill(std::chrono::milliseconds timeout);

    int _fd = -1;
    std::string _out;
    std::string _in;
    std::size_t _in_pos = 0;
    std::uint64_t _pongs = 0;
    std::string _info;
};

// Whether a JetStream API reply or PubAck is an error ({"error":{...}}) rather
// than a success ({"stream":"S","seq":12}): a cheap check for the hot path.
[[nodiscard]] bool is_error_reply(std::string_view json);

}  // namespace starbus::bench::nats
