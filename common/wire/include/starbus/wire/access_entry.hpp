// File: access_entry.hpp
// The access list as the replicated state holds it (docs/protocol.md
// "Security"): one configuration key per client, "$starbus/access/NAME",
// whose value is "ROLE PUBLIC-KEY" (a grant) or "revoked". Keys that begin
// with "$starbus/" are reserved for the cluster's own records: every replica
// refuses a change to one that is not a well-formed access entry, so a client
// cannot slip a malformed grant past one broker and break another.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace starbus {

// What a client's key may do. Each role includes the ones before it.
enum class access_role : std::uint8_t {
    reader = 0,  // status, get, dump, ls, fetch, sub, mirror
    writer = 1,  // + operational set/del, pub
    admin = 2,   // + configuration set/del, put, rm, force, access
};
[[nodiscard]] std::string_view to_string(access_role r);
[[nodiscard]] std::optional<access_role> parse_access_role(std::string_view text);

inline constexpr std::string_view reserved_key_prefix = "$starbus/";
inline constexpr std::string_view access_key_prefix = "$starbus/access/";
inline constexpr std::string_view revoked_access_value = "revoked";
// A CURVE public key in Z85 text: 40 characters.
inline constexpr std::size_t z85_key_chars = 40;

// Whether `text` is 40 characters of the Z85 alphabet (RFC 32).
[[nodiscard]] bool is_z85_key(std::string_view text);
// "" when `name` may name a client or broker, else what is wrong with it
// (letters, digits, '-', '_', '.'; 1 to 64 characters).
[[nodiscard]] std::string name_error(std::string_view name);

// One client's entry: its role and key, or revoked.
struct access_value {
    bool revoked = false;
    access_role role = access_role::reader;
    std::string public_key;  // Z85, when not revoked
};
[[nodiscard]] std::optional<access_value> parse_access_value(std::string_view text);
[[nodiscard]] std::string access_value_text(const access_value& v);
[[nodiscard]] inline std::string access_key(std::string_view client_name) {
    return std::string(access_key_prefix) + std::string(client_name);
}

// "" when a change of key `key` (put with `value`, or erase) is allowed under
// the reserved-key rule, else why not. Keys outside "$starbus/" always pass,
// and so does the erase of any key (a cluster upgraded from before the rule
// may hold one).
[[nodiscard]] std::string reserved_key_error(std::string_view key, bool is_put, std::string_view value,
                                             bool is_config);

}  // namespace starbus
