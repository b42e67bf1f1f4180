// File: bus_check.hpp
// The checker's part for bus messages (see checker.hpp): every
// subscriber's stream, per publisher, against the publishes the workers
// made. Separate from the key/value checks because its rules depend on
// what the bus promises, which is changing (README "What a subscriber can
// miss"; the lossless bus is being built).
#pragma once

#include <string>
#include <vector>

#include "checker.hpp"

namespace starbus::chaos {

// Fills `out` and, per the options' bus mode, adds violations.
//
// A subscriber is taken to be connected from the moment the earliest publish
// it received was made (from any publisher), or, when it received none, from
// `subscribe_grace_ms` after it said it subscribes. From then on it should receive every
// acknowledged publish, in each publisher's order, once. A missed message is
// covered when the subscriber recorded a "gap" event after the publish was
// made and before it received the next message of that publisher.
void check_bus(const history& h, const checker_options& options, bus_report& out, std::vector<std::string>& violations);

}  // namespace starbus::chaos
