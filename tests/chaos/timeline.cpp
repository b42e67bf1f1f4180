// File: timeline.cpp
// The run's own record of events (see timeline.hpp).
#include "timeline.hpp"

#include <cstdio>
#include <iostream>

#include "broker_log.hpp"

namespace starbus::chaos {

timeline::timeline(bool quiet) : _start(wall_ms()), _quiet(quiet) {}

void timeline::add(std::string what) {
    _entries.push_back({wall_ms(), std::move(what)});
    if (!_quiet) std::cerr << format(_entries.back()) << std::endl;
}

std::string timeline::format(const timeline_entry& e) const {
    char rel[32];
    std::snprintf(rel, sizeof rel, "+%.1f s", static_cast<double>(e.at_ms - _start) / 1000.0);
    // Appended, not "[" + ...: GCC 12 at -O3 warns on that (-Wrestrict, a false positive).
    std::string s = "[";
    return s.append(rel).append(" ").append(clock_text(e.at_ms)).append("] ").append(e.what);
}

}  // namespace starbus::chaos
