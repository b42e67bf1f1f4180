// File: access_merge.hpp
// The effective access list (docs/protocol.md "Security"): the cluster file's
// [[client]] tables, each replaced or revoked by the replicated
// "$starbus/access/NAME" entry of the same name, plus the replicated entries
// of other names. Brokers judge by it; `starbus access ls` prints it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <starbus/config/cluster_config.hpp>

namespace starbus {

struct access_list_entry {
    std::string name;
    access_role role = access_role::reader;
    std::string public_key;
    bool from_file = false;  // the cluster file's [[client]] table, not changed since by `starbus access`
};

// `replicated`: (key, value) of the state's keys under "$starbus/access/", any order. Entries come out by
// name. Of two names holding one key, the first by name keeps it.
[[nodiscard]] std::vector<access_list_entry> merge_access_list(
    const std::vector<client_grant>& from_file,
    const std::vector<std::pair<std::string_view, std::string_view>>& replicated);

}  // namespace starbus
