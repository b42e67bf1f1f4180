// File: fuzz_chunk_plan.cpp
// libFuzzer target for the receiver's credit window (chunk_plan.hpp): the bytes
// choose a file size, chunk size, credit and start offset, then a sequence of
// operations (next_request, on_chunk with a request in flight, a duplicate or
// misshapen chunk, arbitrary values, restart_from). After every step the window
// is compared with a small model of the transfer and its invariants are checked:
// in_flight <= credit, reached() <= file_size, reached() never decreases except
// by restart_from (to min(offset, reached)), done() exactly when every byte is
// in and nothing is in flight, and requests tile the file without gap or overlap.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include <starbus/files/chunk_plan.hpp>

#include "fuzz_check.hpp"

namespace {

using starbus::fuzz::check;
using u64 = std::uint64_t;
constexpr u64 u64_max = std::numeric_limits<u64>::max();

// Small values find the edge cases of tiling, large ones those of overflow.
u64 pick_size(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange(0, 2)) {
        case 0: return in.ConsumeIntegralInRange<u64>(0, 4096);
        case 1: return in.ConsumeIntegralInRange<u64>(0, u64{1} << 32);
        default: return u64_max - in.ConsumeIntegralInRange<u64>(0, 4096);
    }
}

// What the window should hold, kept the simple way.
struct model {
    u64 file_size = 0;
    u64 chunk_size = 0;
    std::size_t credit = 0;
    u64 next_offset = 0;                         // where the plan's next request starts
    u64 reached = 0;                             // end of the received prefix
    std::map<u64, u64> in_flight;                // offset -> length, asked and not yet received
    std::map<u64, u64> ahead;                    // received beyond a gap
    std::vector<starbus::chunk_request> issued;  // recent requests, for duplicates

    void receive(u64 offset, u64 length) {
        in_flight.erase(offset);
        ahead.emplace(offset, length);
        for (auto it = ahead.begin(); it != ahead.end() && it->first == reached; it = ahead.erase(it))
            reached += it->second;
    }
    [[nodiscard]] bool expects(u64 offset, u64 length) const {
        const auto it = in_flight.find(offset);
        return it != in_flight.end() && it->second == length;
    }
};

void check_window(const starbus::credit_window& w, const model& m) {
    check(w.file_size() == m.file_size && w.credit() == m.credit, "file size and credit never change");
    check(w.in_flight() <= w.credit(), "in_flight() <= credit()");
    check(w.in_flight() == m.in_flight.size(), "in_flight() counts the requests not yet received");
    check(w.reached() <= w.file_size(), "reached() <= file_size()");
    check(w.reached() == m.reached, "reached() is the end of the received prefix");
    check(w.done() == (m.reached >= m.file_size && m.in_flight.empty()),
          "done() exactly when every byte is in and nothing is in flight");
    check(w.can_request() == (m.in_flight.size() < m.credit && m.next_offset < m.file_size),
          "can_request() exactly when credit is left and bytes are not yet asked for");
    check(!w.done() || !w.can_request(), "nothing to request once done");
}

void step_request(starbus::credit_window& w, model& m) {
    const bool could = w.can_request();
    const auto r = w.next_request();
    check(r.has_value() == could, "next_request() gives a request exactly when can_request()");
    if (!r) return;
    check(r->offset == m.next_offset, "requests follow each other without gap or overlap");
    check(r->length > 0 && r->length <= m.chunk_size, "a request is 1..chunk_size bytes");
    check(r->length == std::min(m.chunk_size, m.file_size - r->offset), "only the last request is short");
    m.next_offset += r->length;
    m.in_flight.emplace(r->offset, r->length);
    if (m.issued.size() < 256) m.issued.push_back(*r);
}

void step_chunk(starbus::credit_window& w, model& m, u64 offset, u64 length) {
    const bool expected = m.expects(offset, length);
    check(w.on_chunk(offset, length) == expected, "on_chunk() accepts exactly a request in flight, once");
    if (expected) m.receive(offset, length);
}

void step_restart(starbus::credit_window& w, model& m, u64 offset) {
    const u64 before = w.reached();
    w.restart_from(offset);
    check(w.reached() == std::min(offset, before), "restart_from() resumes at min(offset, reached())");
    m.in_flight.clear();
    m.ahead.clear();
    m.reached = std::min(offset, before);
    m.next_offset = m.reached;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    model m;
    m.file_size = pick_size(in);
    m.chunk_size = in.ConsumeBool() ? in.ConsumeIntegralInRange<u64>(0, 64) : in.ConsumeIntegral<u64>();
    m.credit = in.ConsumeIntegralInRange<std::size_t>(0, 16);
    const u64 start = in.ConsumeBool() ? in.ConsumeIntegralInRange<u64>(0, m.file_size) : in.ConsumeIntegral<u64>();
    if (m.chunk_size == 0 || m.credit == 0) {
        bool threw = false;
        try {
            starbus::credit_window w(m.file_size, m.chunk_size, m.credit, start);
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        check(threw, "a zero chunk size or credit is refused with invalid_argument");
        return 0;
    }
    starbus::credit_window w(m.file_size, m.chunk_size, m.credit, start);
    m.next_offset = m.reached = std::min(start, m.file_size);
    check_window(w, m);

    while (in.remaining_bytes() > 0) {
        const u64 before = w.reached();
        bool restarted = false;
        switch (in.ConsumeIntegralInRange(0, 5)) {
            case 0:
            case 1: step_request(w, m); break;
            case 2:  // a chunk that was asked for and is still in flight
                if (!m.in_flight.empty()) {
                    auto it = m.in_flight.begin();
                    std::advance(it, in.ConsumeIntegralInRange<std::size_t>(0, m.in_flight.size() - 1));
                    const auto [offset, length] = *it;
                    step_chunk(w, m, offset, length);
                }
                break;
            case 3:  // a duplicate, or a chunk of the right offset and another length
                if (!m.issued.empty()) {
                    const auto r = m.issued[in.ConsumeIntegralInRange<std::size_t>(0, m.issued.size() - 1)];
                    const u64 delta = in.ConsumeIntegralInRange<u64>(0, 2);
                    step_chunk(w, m, r.offset, r.length + delta - 1);
                }
                break;
            case 4: step_chunk(w, m, in.ConsumeIntegral<u64>(), in.ConsumeIntegral<u64>()); break;
            default: {
                restarted = true;
                const int how = in.ConsumeIntegralInRange(0, 2);
                step_restart(w, m, how == 0 ? w.reached() : how == 1 ? 0 : in.ConsumeIntegral<u64>());
                break;
            }
        }
        check(restarted || w.reached() >= before, "reached() never decreases except by restart_from()");
        check_window(w, m);
    }
    return 0;
}
