// File: access_entry.cpp
#include <starbus/wire/access_entry.hpp>

#include <cctype>

namespace starbus {

std::string_view to_string(access_role r) {
    switch (r) {
        case access_role::reader: return "reader";
        case access_role::writer: return "writer";
        case access_role::admin: return "admin";
    }
    return "unknown";
}

std::optional<access_role> parse_access_role(std::string_view text) {
    if (text == "reader") return access_role::reader;
    if (text == "writer") return access_role::writer;
    if (text == "admin") return access_role::admin;
    return std::nullopt;
}

bool is_z85_key(std::string_view text) {
    static constexpr std::string_view alphabet =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (text.size() != z85_key_chars) return false;
    // Each group of five characters is a base-85 number that must fit in four bytes (else libzmq cannot
    // decode the key: "#####" is 85^5 - 1).
    for (std::size_t group = 0; group < text.size(); group += 5) {
        std::uint64_t value = 0;
        for (std::size_t i = group; i < group + 5; ++i) {
            const auto digit = alphabet.find(text[i]);
            if (digit == std::string_view::npos) return false;
            value = value * 85 + digit;
        }
        if (value > 0xFFFFFFFFu) return false;
    }
    return true;
}

std::string name_error(std::string_view name) {
    if (name.empty()) return "is empty";
    if (name.size() > 64) return "is longer than 64 characters";
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            return "may hold only letters, digits, '-', '_' and '.'";
    return {};
}

std::optional<access_value> parse_access_value(std::string_view text) {
    access_value v;
    if (text == revoked_access_value) {
        v.revoked = true;
        return v;
    }
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto role = parse_access_role(text.substr(0, space));
    const std::string_view key = text.substr(space + 1);
    if (!role || !is_z85_key(key)) return std::nullopt;
    v.role = *role;
    v.public_key = std::string(key);
    return v;
}

std::string access_value_text(const access_value& v) {
    if (v.revoked) return std::string(revoked_access_value);
    return std::string(to_string(v.role)) + " " + v.public_key;
}

std::string reserved_key_error(std::string_view key, bool is_put, std::string_view value, bool is_config) {
    if (key.substr(0, reserved_key_prefix.size()) != reserved_key_prefix) return {};
    // Any reserved key may be erased (of either class), so that a key a cluster held before the rule (an
    // upgrade) can always be removed; only an admin may send it (docs/protocol.md "Security").
    if (!is_put) return {};
    if (key.substr(0, access_key_prefix.size()) != access_key_prefix)
        return "keys beginning with \"" + std::string(reserved_key_prefix) +
               "\" are reserved for the cluster's own records (only \"" + std::string(access_key_prefix) +
               "NAME\" exists)";
    if (!is_config) return "an access entry is a configuration change (class config)";
    const std::string_view name = key.substr(access_key_prefix.size());
    if (auto e = name_error(name); !e.empty()) return "access entry name \"" + std::string(name) + "\" " + e;
    if (is_put && !parse_access_value(value))
        return "an access entry's value is \"ROLE PUBLIC-KEY\" (role reader, writer or admin; a 40-character Z85 "
               "key) or \"revoked\"";
    return {};
}

}  // namespace starbus
