// File: alone_rule.hpp
// The cluster file's `when_alone` rule as one function, so that the write
// path (refuse new writes) and the commit path (acknowledge nothing more)
// cannot drift apart (docs/protocol.md "Serving alone").
#pragma once

#include <cstddef>

#include <starbus/config/cluster_config.hpp>

namespace starbus {

// True when a server with `synced_replicas` live, confirmed, synchronised replicas must neither take
// writes nor acknowledge any: the cluster asks for it (when_alone = "refuse"), acknowledgements are meant
// to rest on a replica (ack is not "local"), and there is a replica that could hold them (more than one
// broker). A one-broker cluster has nobody to wait for, so the rule never applies there.
[[nodiscard]] inline bool refuses_alone(const cluster_config& cluster, std::size_t synced_replicas) {
    return cluster.when_alone == alone_policy::refuse && cluster.ack != ack_mode::local && cluster.brokers.size() > 1 &&
           synced_replicas == 0;
}

}  // namespace starbus
