// File: text_lines.hpp
// Calls a function for each line of a text (without its '\n'; the last line
// need not end with one): the one line splitter of the harness's readers of
// histories, broker logs and status samples.
#pragma once

#include <string_view>

namespace starbus::chaos {

template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        fn(text.substr(start, end - start));
        start = end + 1;
    }
}

}  // namespace starbus::chaos
