// File: file_path.cpp
// Normalisation and confinement of remote file paths (see file_path.hpp).
#include <starbus/wire/file_path.hpp>

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <vector>

namespace starbus {

namespace {

bool refuse(std::string* why, std::string reason) {
    if (why) *why = std::move(reason);
    return false;
}

std::nullopt_t refused(std::string* why, std::string reason) {
    refuse(why, std::move(reason));
    return std::nullopt;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid (RFC 3629:
// no overlong forms, no surrogates, nothing beyond U+10FFFF). Sets `cp`.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
    const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
    const std::uint8_t b0 = byte(i);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;  // a continuation byte or 0xF8..0xFF where a sequence should start
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

// Checks the characters of the whole raw path: they are the same in every component.
bool check_characters(std::string_view raw, std::string* why) {
    for (std::size_t i = 0; i < raw.size();) {
        std::uint32_t cp = 0;
        const std::size_t len = utf8_sequence(raw, i, cp);
        if (len == 0) return refuse(why, "invalid UTF-8 at byte " + std::to_string(i));
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
            return refuse(why, "control character at byte " + std::to_string(i));
        if (cp == '\\') return refuse(why, "backslash at byte " + std::to_string(i) + ": use '/' as the separator");
        i += len;
    }
    return true;
}

bool is_reserved(std::string_view component) {
    const auto prefix = file_limits::reserved_prefix;
    if (component.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = component[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

bool is_drive_prefix(std::string_view component) {
    if (component.size() < 2 || component[1] != ':') return false;
    const char c = component[0];
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::optional<std::string> normalise_remote_path(std::string_view raw, std::string* why) {
    if (raw.empty()) return refused(why, "empty path");
    if (raw.size() > file_limits::max_path_bytes)
        return refused(why, "path of " + std::to_string(raw.size()) + " bytes: the limit is " +
                               std::to_string(file_limits::max_path_bytes));
    if (!check_characters(raw, why)) return std::nullopt;
    if (raw.front() == '/') return refused(why, "absolute path: remote paths are relative");
    if (raw.back() == '/') return refused(why, "trailing '/': a remote path names a file");

    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= raw.size()) {
        const std::size_t end = std::min(raw.find('/', start), raw.size());
        const std::string_view c = raw.substr(start, end - start);
        start = end + 1;
        if (c.empty() || c == ".") continue;  // "a//b" and "a/./b" both mean "a/b"
        // Refused outright, not resolved: "a/../b" is almost always a probe, and
        // resolving it would make the check depend on what exists on disk.
        if (c == "..") return refused(why, "'..' component");
        if (c.size() > file_limits::max_component_bytes)
            return refused(why, "component of " + std::to_string(c.size()) + " bytes: the limit is " +
                                   std::to_string(file_limits::max_component_bytes));
        if (is_reserved(c))
            return refused(why, "component '" + std::string(c) + "' is reserved for the store (" +
                                   std::string(file_limits::reserved_prefix) + "...)");
        if (parts.empty() && is_drive_prefix(c)) return refused(why, "drive prefix '" + std::string(c) + "'");
        parts.push_back(c);
        if (parts.size() > file_limits::max_depth)
            return refused(why, "deeper than " + std::to_string(file_limits::max_depth) + " components");
    }
    if (parts.empty()) return refused(why, "path names no file");

    std::string out;
    out.reserve(raw.size());
    for (const auto c : parts) {
        if (!out.empty()) out += '/';
        out += c;
    }
    return out;
}

std::optional<std::filesystem::path> confine(const std::filesystem::path& base_dir, std::string_view normalised,
                                             std::string* why) {
    namespace fs = std::filesystem;
    const auto canonical = normalise_remote_path(normalised, why);
    if (!canonical) return std::nullopt;
    if (*canonical != normalised) return refused(why, "path is not in canonical form");

    std::error_code ec;
    if (!fs::is_directory(base_dir, ec))
        return refused(why, "base directory " + base_dir.string() + " is not a directory");

    fs::path at = base_dir;
    std::size_t start = 0;
    while (start < normalised.size()) {
        const std::size_t end = std::min(normalised.find('/', start), normalised.size());
        const bool last = end == normalised.size();
        at /= std::string(normalised.substr(start, end - start));
        start = end + 1;

        const fs::file_status st = fs::symlink_status(at, ec);
        if (st.type() == fs::file_type::not_found) return base_dir / *canonical;  // nothing below exists either
        if (ec) return refused(why, "cannot inspect " + at.string() + ": " + ec.message());
        if (st.type() == fs::file_type::symlink) return refused(why, at.string() + " is a symlink");
        if (!last && st.type() != fs::file_type::directory)
            return refused(why, at.string() + " is not a directory");
        if (last && st.type() != fs::file_type::regular)
            return refused(why, at.string() + " exists and is not a regular file");
    }
    return base_dir / *canonical;
}

}  // namespace starbus
