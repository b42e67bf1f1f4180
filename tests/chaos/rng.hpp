// File: rng.hpp
// A small deterministic random number generator for the chaos harness
// (SplitMix64). The standard library's distributions are not specified
// bit for bit, so a schedule drawn with them could differ between two
// standard libraries; this one gives the same numbers for the same seed
// everywhere, which is what makes `--seed N` a reproduction recipe.
#pragma once

#include <cstdint>

namespace starbus::chaos {

class rng {
  public:
    explicit rng(std::uint64_t seed) : _state(seed) {}

    // The next 64 random bits (SplitMix64: a Weyl sequence through a mixer).
    std::uint64_t next() {
        std::uint64_t z = (_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    // Uniform in [lo, hi], both included; lo when hi <= lo. The modulo bias
    // is below 2^-40 for the small ranges the harness draws from.
    std::int64_t between(std::int64_t lo, std::int64_t hi) {
        if (hi <= lo) return lo;
        const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
        return lo + static_cast<std::int64_t>(next() % span);
    }

    // True with probability percent / 100.
    bool chance(int percent) { return between(0, 99) < percent; }

    // A child generator whose stream does not overlap this one's in practice:
    // one per worker or per fault, so that adding a draw in one place does not
    // shift every other.
    [[nodiscard]] rng fork(std::uint64_t salt) const { return rng(_state ^ (salt * 0xd1342543de82ef95ULL + 1)); }

  private:
    std::uint64_t _state;
};

}  // namespace starbus::chaos
