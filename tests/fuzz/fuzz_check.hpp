// File: fuzz_check.hpp
// The one helper every fuzz target shares: a property check that aborts with a
// message, so that libFuzzer records the input as a crash. Not assert(): a
// property violation must be caught whatever NDEBUG says.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace starbus::fuzz {

// Aborts with `what` on stderr when `ok` is false.
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

}  // namespace starbus::fuzz
