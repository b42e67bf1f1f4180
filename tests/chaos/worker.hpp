// File: worker.hpp
// starbus-chaos-worker: the client processes of a chaos run, written
// against the public client library only (<starbus/client/client.hpp>),
// as an application would be. The harness runs each in its own network
// namespace with `ip netns exec`. Modes:
//   load       operational changes, configuration changes and publishes,
//              one at a time (like one Jepsen process), each recorded in the
//              history before it is sent and again when it completes
//   subscribe  receives every bus message of the workers' topics and
//              records each with its arrival time, and the client's events
//   dump       prints one broker's replica as JSON, like `starbus dump
//              --json --from NAME` plus each entry's epoch and client_id
//   probe      one change, then prints who acknowledged it and where
//   watch      every broker's status, every N ms, one JSON line per sample
//              (what `starbus status --json` shows), for the replica-cut
//              scenario's "two serving at once" check (cut_check.hpp)
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "history.hpp"

namespace starbus {
class client;
}

namespace starbus::chaos {

// Appends history lines to a file, one write(2) per line, so that a line is
// on disk (in the page cache) as soon as it is written and a killed worker
// leaves at most its last line torn.
class history_writer {
  public:
    explicit history_writer(const std::string& path);  // throws std::runtime_error
    ~history_writer();
    history_writer(const history_writer&) = delete;
    history_writer& operator=(const history_writer&) = delete;
    void write(const std::string& line);

  private:
    int _fd = -1;
};

// Records every event of `c` (server changes and the like) in `out`.
void record_events(starbus::client& c, history_writer& out, const std::string& process);

struct load_options {
    std::string cluster_file;
    std::string name;  // the process name in the history ("c1")
    std::string history_path;
    std::string tag;  // the run's tag, part of every value: values are unique across runs too
    std::uint64_t seed = 1;
    double rate = 50;  // operations per second; 0: as fast as answers come
    std::chrono::milliseconds op_timeout{2000};
    int weight_op = 60;  // the mix of operations, relative weights
    int weight_config = 15;
    int weight_publish = 25;
};

struct subscribe_options {
    std::string cluster_file;
    std::string name;
    std::string history_path;
    std::string prefix = "chaos.bus.";
};

struct watch_options {
    std::string cluster_file;
    std::string name;  // the sample's source ("ctl")
    std::string path;  // where the samples go (JSON lines, appended)
    std::chrono::milliseconds every{100};
    std::chrono::milliseconds timeout{500};  // per sample: a broker silent this long is "down" in it
};

// Each runs until `stop` is set (SIGTERM); the operation in flight finishes
// first, within its timeout. They return the process's exit code.
int run_load(const load_options& o, const std::atomic<bool>& stop);
int run_subscribe(const subscribe_options& o, const std::atomic<bool>& stop);
int run_watch(const watch_options& o, const std::atomic<bool>& stop);
int run_dump(const std::string& cluster_file, const std::string& from, std::chrono::milliseconds timeout);
int run_probe(const std::string& cluster_file, const std::string& key, const std::string& value, bool config,
              std::chrono::milliseconds timeout);

}  // namespace starbus::chaos
