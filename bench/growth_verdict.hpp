// File: growth_verdict.hpp
// How starbus-bench-growth judges a curve: a cost measured at growing sizes
// (bytes at 10 K, 100 K, 1 M keys; seconds per message at 1, 10, 100
// subscribers; seconds per change at 100 B, 1 KiB, 64 KiB values) grows "at
// most linearly" when each step's cost ratio is no more than its size ratio.
// The growth exponent log(cost ratio) / log(size ratio) says it in one number:
// 1 is linear, below 1 better, above 1 worse. A pure function of the figures,
// so the rule is the same for every curve.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace starbus::bench {

// The noise the verdict forgives: on the shared 2-core VM a median moves by
// ±40 % between runs, so an exponent up to 1.15 (a 10x step costing up to
// 14x) still counts as linear; the exponents are printed, so a reader can
// apply a stricter rule.
inline constexpr double linear_exponent_tolerance = 1.15;

struct growth_step {
    double size_ratio = 0;  // x[i+1] / x[i]
    double cost_ratio = 0;  // y[i+1] / y[i]
    [[nodiscard]] double exponent() const {
        return size_ratio > 1 && cost_ratio > 0 ? std::log(cost_ratio) / std::log(size_ratio) : 0;
    }
};

// The steps of the curve (x[i], y[i]), x increasing; a step with a missing figure (<= 0) is left out.
[[nodiscard]] inline std::vector<growth_step> growth_steps(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<growth_step> out;
    for (std::size_t i = 0; i + 1 < x.size() && i + 1 < y.size(); ++i)
        if (x[i] > 0 && y[i] > 0 && y[i + 1] > 0) out.push_back({x[i + 1] / x[i], y[i + 1] / y[i]});
    return out;
}

// "grows at most linearly" or "grows WORSE than linearly", and why, e.g.
// "cost(1000000)/cost(100000) = 11.2 vs linear 10.0 (exponent 1.05)".
[[nodiscard]] inline std::string growth_verdict(const std::vector<double>& x, const std::vector<double>& y,
                                                const std::string& cost_name, const std::string& size_unit = "") {
    const std::vector<growth_step> steps = growth_steps(x, y);
    if (steps.empty()) return "not enough figures for a verdict";
    bool linear = true;
    std::string why;
    std::size_t k = 0;
    for (std::size_t i = 0; i + 1 < x.size() && k < steps.size(); ++i) {
        if (!(x[i] > 0 && y[i] > 0 && y[i + 1] > 0)) continue;
        const growth_step& s = steps[k++];
        linear = linear && s.exponent() <= linear_exponent_tolerance;
        if (!why.empty()) why += "; ";
        why += cost_name + "(" + fmt(x[i + 1]) + size_unit + ")/" + cost_name + "(" + fmt(x[i]) + size_unit +
               ") = " + fmt(s.cost_ratio, 2) + " vs linear " + fmt(s.size_ratio, 1) + " (exponent " +
               fmt(s.exponent(), 2) + ")";
    }
    return std::string(linear ? "grows at most linearly" : "grows WORSE than linearly") + ": " + why;
}

}  // namespace starbus::bench
