// File: client_options.hpp
// What a starbus::client is configured with: the cluster and the few knobs
// of the Lazy Pirate engine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/key_files.hpp>

namespace zmq {
class context_t;
}

namespace starbus {

struct client_options {
    // The brokers in rank order and their heartbeat (load_cluster_file()).
    cluster_config cluster;
    // How long a broker may stay silent before the client moves to the next
    // one. 0: max(250 ms, 3 heartbeats).
    std::chrono::milliseconds attempt_timeout{0};
    // How many requests may be outstanding at once (pipelining).
    std::size_t window = 1000;
    // Keep a local copy of the replicated state in step with the server
    // (client::mirror()).
    bool mirror_state = false;
    // Bus messages received but not yet taken by next_message(); beyond
    // this the oldest are dropped (client::dropped_messages()).
    std::size_t max_queued_messages = 100000;
    // The client's identity for deduplication. 0: random (recommended).
    std::uint64_t client_id = 0;
    // Downloads (fetch_file, file_mirror) also check each file's SHA-256, not
    // only its XXH3-128: about 1 GB/s of CPU instead of 15 (README "Files").
    bool verify_sha256 = false;
    // The ZeroMQ context the client's sockets live in. nullptr (the default):
    // the client owns one, with its own I/O thread, reaper thread and their
    // file descriptors. Shared: the caller keeps it alive longer than every
    // client using it. Many clients in one process (a test or a simulator
    // with 1,000 clients) should share one: each client then costs only its
    // sockets (a DEALER and, when mirroring or subscribed, a SUB: about two
    // file descriptors each). Raise the context's ZMQ_MAX_SOCKETS (default
    // 1023) to at least 2 per client plus 3 for a first-contact probe, and
    // RLIMIT_NOFILE to match. Either way a client watches its connection to
    // the broker, so that a crashed broker is left at once. With a context of
    // its own: a socket monitor (2 sockets more). Sharing a context: no socket
    // more (libzmq makes every socket close in a context scan all its
    // monitors' endpoints); its DEALER can send only while its connection is
    // up (ZMQ_IMMEDIATE), which shows the loss; a refused connection is left
    // after an attempt time-out, as a hung broker. The client stays
    // single-threaded: clients that
    // share a context may still be used from different threads, one thread
    // per client.
    zmq::context_t* context = nullptr;
    // The client's CURVE key pair (load_secret_key_file("NAME.key")): required when the cluster file's
    // [security] mode is "curve" (the client constructor throws config_error without it), unused otherwise.
    // Each broker is checked against the public_key the cluster file gives it.
    curve_key_pair key;

    // attempt_timeout with its default applied.
    [[nodiscard]] std::chrono::milliseconds effective_attempt_timeout() const {
        if (attempt_timeout.count() > 0) return attempt_timeout;
        const auto three = cluster.heartbeat * 3;
        return three > std::chrono::milliseconds(250) ? three : std::chrono::milliseconds(250);
    }
    // How often an idle client pings the server: every heartbeat, and at
    // least three times per attempt timeout.
    [[nodiscard]] std::chrono::milliseconds ping_interval() const {
        const auto third = effective_attempt_timeout() / 3;
        auto hb = cluster.heartbeat.count() > 0 ? cluster.heartbeat : third;
        auto p = hb < third ? hb : third;
        return p.count() > 0 ? p : std::chrono::milliseconds(1);
    }
};

}  // namespace starbus
