// File: broker_walk.cpp
// Rank-order walk with hints and jittered backoff (broker_walk.hpp).
#include "broker_walk.hpp"

#include <algorithm>
#include <cassert>

namespace starbus::client_detail {

backoff::backoff(std::uint64_t seed) : backoff(seed, settings{}) {}

backoff::backoff(std::uint64_t seed, settings s) : _settings(s), _base(s.first), _rng(seed) {
    assert(_settings.first.count() > 0 && _settings.max >= _settings.first);
    assert(_settings.jitter >= 0.0 && _settings.jitter < 1.0);
    assert(_settings.retry_min <= _settings.retry_max);
}

std::chrono::milliseconds backoff::next() {
    // Jitter spreads clients that lost the same server at the same moment.
    std::uniform_real_distribution<double> spread(1.0 - _settings.jitter, 1.0 + _settings.jitter);
    const auto pause = static_cast<std::int64_t>(static_cast<double>(_base.count()) * spread(_rng));
    const auto ceiling = static_cast<std::int64_t>(static_cast<double>(_settings.max.count()) *
                                                   (1.0 + _settings.jitter));
    _base = std::min(_base * 2, _settings.max);
    return std::chrono::milliseconds(std::clamp<std::int64_t>(pause, 1, std::max<std::int64_t>(1, ceiling)));
}

void backoff::reset() { _base = _settings.first; }

std::chrono::milliseconds backoff::retry_later() {
    std::uniform_int_distribution<std::int64_t> spread(_settings.retry_min.count(), _settings.retry_max.count());
    return std::chrono::milliseconds(spread(_rng));
}

broker_walk::broker_walk(std::size_t broker_count, std::uint64_t seed, backoff::settings s)
    : _count(broker_count), _silent(broker_count, false), _backoff(seed, s) {
    assert(broker_count > 0);
}

broker_walk::step broker_walk::advance() { return go((_current + 1) % _count); }

broker_walk::step broker_walk::redirect(std::size_t broker) {
    // A broker that named a dead one as the server has not noticed yet: do
    // not wait a whole attempt timeout for the dead one again.
    if (broker >= _count || broker == _current || _silent[broker]) return advance();
    return go(broker);
}

void broker_walk::mark_silent() { _silent[_current] = true; }

bool broker_walk::silent_in_pass(std::size_t broker) const { return broker < _count && _silent[broker]; }

void broker_walk::serving() {
    // The server counts as tried: when it fails, the pass covers every other
    // broker and then the server itself before the first pause.
    _tried = 0;
    std::fill(_silent.begin(), _silent.end(), false);
    _backoff.reset();
}

broker_walk::step broker_walk::go(std::size_t broker) {
    step s;
    s.broker = broker;
    // A full pass with nobody serving: pause before the next one, so that a
    // cluster still electing its server is not flooded.
    if (_tried >= _count) {
        s.pause = _backoff.next();
        _tried = 0;
        std::fill(_silent.begin(), _silent.end(), false);  // a new pass: everyone gets another chance
    }
    _current = broker;
    ++_tried;
    return s;
}

}  // namespace starbus::client_detail
