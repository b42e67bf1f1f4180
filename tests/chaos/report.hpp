// File: report.hpp
// What a chaos run prints at its end: its figures (operations, rate,
// classification, faults), and on failure the seed, the command that
// reproduces it, a timeline of the faults, and each operation behind a
// violation with the broker log lines around it (serving epochs,
// transitions, errors), so that a reader can start the diagnosis from the
// report alone.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cluster_env.hpp"
#include "final_phase.hpp"

namespace starbus::chaos {

// Faults injected, by kind name (kill, stop, ...), for the figures.
using fault_counts = std::vector<std::pair<std::string, std::size_t>>;

[[nodiscard]] std::string render_figures(const run_outcome& r, const fault_counts& faults, int broker_restarts);
// Prints `text` on stdout and keeps it, with the whole timeline, in the run
// directory (report.txt, timeline.txt), so a CTest run leaves it behind.
void publish_report(const std::string& text, const timeline& events, const std::filesystem::path& run_dir);

[[nodiscard]] std::string render_failure(const run_outcome& r, const timeline& events, std::uint64_t seed,
                                         const std::string& reproduce);

}  // namespace starbus::chaos
