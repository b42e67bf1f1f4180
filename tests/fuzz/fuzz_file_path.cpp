// File: fuzz_file_path.cpp
// libFuzzer target for remote path normalisation (file_path.hpp): any bytes as
// a path named by a peer. What normalise_remote_path() accepts must be
// canonical (normalising it again gives the same string) and confined: no ".."
// or "." or empty component, no leading or trailing '/', no NUL, no backslash,
// within the length limits. What it refuses comes with a reason.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <starbus/wire/file_path.hpp>

#include "fuzz_check.hpp"

namespace {

// Checks each '/'-separated component of an accepted path.
void check_components(std::string_view path) {
    using starbus::fuzz::check;
    std::size_t depth = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = path.find('/', start);
        const std::string_view c = path.substr(start, end == std::string_view::npos ? end : end - start);
        check(!c.empty(), "no empty component (no leading, trailing or doubled '/')");
        check(c != "." && c != "..", "no '.' or '..' component");
        check(c.size() <= starbus::file_limits::max_component_bytes, "components within the limit");
        ++depth;
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    check(depth <= starbus::file_limits::max_depth, "depth within the limit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using starbus::fuzz::check;
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    std::string why;
    const std::optional<std::string> out = starbus::normalise_remote_path(raw, &why);
    if (!out) {
        check(!why.empty(), "a refused path comes with a reason");
        return 0;
    }
    const std::string& p = *out;
    check(!p.empty() && p.size() <= starbus::file_limits::max_path_bytes, "length within the limit");
    check(p.front() != '/', "no leading '/'");
    check(p.find('\0') == std::string::npos, "no NUL");
    check(p.find('\\') == std::string::npos, "no backslash");
    check(p.size() <= raw.size(), "normalisation only removes");
    check_components(p);
    std::string why_again;
    const std::optional<std::string> again = starbus::normalise_remote_path(p, &why_again);
    check(again.has_value(), "a normalised path is accepted again");
    check(*again == p, "normalisation is a fixed point");
    return 0;
}
