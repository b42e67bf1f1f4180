// File: access_merge.cpp
#include <starbus/security/access_merge.hpp>

#include <map>
#include <set>

namespace starbus {

std::vector<access_list_entry> merge_access_list(
    const std::vector<client_grant>& from_file,
    const std::vector<std::pair<std::string_view, std::string_view>>& replicated) {
    std::map<std::string, access_list_entry> by_name;
    for (const auto& c : from_file) by_name[c.name] = {c.name, c.role, c.public_key, true};
    for (const auto& [key, text] : replicated) {
        if (key.substr(0, access_key_prefix.size()) != access_key_prefix) continue;
        const std::string name(key.substr(access_key_prefix.size()));
        const auto value = parse_access_value(text);  // replicas let only valid ones in (check_change)
        if (!value || value->revoked) by_name.erase(name);
        else by_name[name] = {name, value->role, value->public_key, false};
    }
    std::vector<access_list_entry> out;
    std::set<std::string> keys;
    for (auto& [name, e] : by_name)
        if (keys.insert(e.public_key).second) out.push_back(std::move(e));
    return out;
}

}  // namespace starbus
