// File: timeline.hpp
// What the harness did and saw during a run, in order, with wall-clock
// times: faults started and healed, brokers that exited or were restarted,
// phases of the run. Each entry is also printed as it happens, so a long
// run shows its progress; the failure report replays the whole list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace starbus::chaos {

struct timeline_entry {
    std::int64_t at_ms = 0;  // wall clock
    std::string what;
};

class timeline {
  public:
    // `quiet`: record only, print nothing.
    explicit timeline(bool quiet = false);
    void add(std::string what);
    [[nodiscard]] const std::vector<timeline_entry>& entries() const { return _entries; }
    [[nodiscard]] std::int64_t started_ms() const { return _start; }
    // "[+12.3 s 19:22:01.123] what" for one entry.
    [[nodiscard]] std::string format(const timeline_entry& e) const;

  private:
    std::int64_t _start;
    bool _quiet;
    std::vector<timeline_entry> _entries;
};

}  // namespace starbus::chaos
