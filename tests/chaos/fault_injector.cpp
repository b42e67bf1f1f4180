// File: fault_injector.cpp
// One fault at a time, applied and healed (see fault_injector.hpp).
#include "fault_injector.hpp"

#include <numeric>

namespace starbus::chaos {

void fault_injector::begin(const fault& f) {
    ++_injected[static_cast<std::size_t>(f.kind)];
    _env.events().add("fault start: " + describe(f, _env.host_names()));
    switch (f.kind) {
        case fault_kind::kill: _env.fleet().kill(f.target); break;
        case fault_kind::stop: _env.fleet().freeze(f.target); break;
        case fault_kind::partition: _env.network().partition(f.side_a, f.side_b); break;
        case fault_kind::netem:
            _env.network().shape(
                f.target, {f.delay_ms, f.jitter_ms, f.loss_pct, _seed ^ static_cast<std::uint64_t>(f.start.count())});
            break;
        case fault_kind::disk: {
            const auto bytes = _env.disk(f.target).fill();
            _env.events().add("  ballast of " + std::to_string(bytes >> 20) + " MiB fills " +
                              _env.broker_name(f.target) + "'s data disk (" +
                              std::to_string(_env.disk(f.target).free_bytes()) + " bytes left)");
            break;
        }
    }
}

void fault_injector::end(const fault& f) {
    switch (f.kind) {
        case fault_kind::kill: _env.fleet().start(f.target); break;
        case fault_kind::stop: _env.fleet().thaw(f.target); break;
        case fault_kind::partition: _env.network().heal_partition(); break;
        case fault_kind::netem: _env.network().unshape(f.target); break;
        case fault_kind::disk: _env.disk(f.target).drain(); break;
    }
    _env.events().add("fault heal:  " + describe(f, _env.host_names()));
}

void fault_injector::heal_all() noexcept {
    try {
        for (auto& p : _env.network().heal_all()) _env.events().add("heal problem: " + p);
        for (std::size_t i = 0; i < _env.brokers(); ++i) {
            if (_env.disk(i).full()) _env.disk(i).drain();
            if (_env.fleet().frozen(i)) _env.fleet().thaw(i);
            if (_env.fleet().held_down(i)) _env.fleet().start(i);
        }
    } catch (const std::exception& e) {
        _env.events().add(std::string("heal problem: ") + e.what());
    }
}

std::size_t fault_injector::total_injected() const {
    return std::accumulate(_injected.begin(), _injected.end(), std::size_t{0});
}

}  // namespace starbus::chaos
