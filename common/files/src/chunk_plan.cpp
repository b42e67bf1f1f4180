// File: chunk_plan.cpp
// Chunk planning and credit accounting of a file transfer (see chunk_plan.hpp).
#include <starbus/files/chunk_plan.hpp>

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace starbus {

chunk_plan::chunk_plan(std::uint64_t file_size, std::uint64_t chunk_size, std::uint64_t start_offset)
    : _file_size(file_size), _chunk_size(chunk_size), _next(std::min(start_offset, file_size)) {
    if (chunk_size == 0) throw std::invalid_argument("chunk size must be at least 1 byte");
}

std::optional<chunk_request> chunk_plan::next() {
    if (done()) return std::nullopt;
    const chunk_request r{_next, std::min(_chunk_size, _file_size - _next)};
    _next += r.length;
    return r;
}

credit_window::credit_window(std::uint64_t file_size, std::uint64_t chunk_size, std::size_t credit,
                             std::uint64_t start_offset)
    : _plan(file_size, chunk_size, start_offset), _credit(credit), _reached(_plan.next_offset()) {
    if (credit == 0) throw std::invalid_argument("credit must be at least 1 chunk in flight");
}

bool credit_window::can_request() const { return _in_flight.size() < _credit && !_plan.done(); }

std::optional<chunk_request> credit_window::next_request() {
    if (!can_request()) return std::nullopt;
    auto r = _plan.next();
    assert(r);  // can_request() checked that the plan is not done
    _in_flight.emplace(r->offset, r->length);
    return r;
}

bool credit_window::on_chunk(std::uint64_t offset, std::uint64_t length) {
    const auto it = _in_flight.find(offset);
    if (it == _in_flight.end() || it->second != length) return false;
    _in_flight.erase(it);
    if (offset == _reached) {
        _reached += length;
        advance();
    } else {
        _ahead.emplace(offset, length);
    }
    return true;
}

// Moves the resume point over the chunks that were waiting for a gap to close.
void credit_window::advance() {
    for (auto it = _ahead.begin(); it != _ahead.end() && it->first == _reached; it = _ahead.erase(it))
        _reached += it->second;
}

void credit_window::restart_from(std::uint64_t offset) {
    _in_flight.clear();
    _ahead.clear();
    _reached = std::min(offset, _reached);
    _plan = chunk_plan(_plan.file_size(), _plan.chunk_size(), _reached);
}

}  // namespace starbus
