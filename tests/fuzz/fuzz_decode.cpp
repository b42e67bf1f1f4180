// File: fuzz_decode.cpp
// libFuzzer target for the wire decoder (codec.hpp): any bytes, as a frame off
// the request, heartbeat or publish port. decode() must never crash; when it
// accepts a frame, encode() of the result must decode again and re-encode to
// the same bytes (the canonical encoding is a fixed point). The decoder table
// is generated from the `message` variant, so this covers every command,
// including those added later, without a change here.
#include <cstddef>
#include <cstdint>
#include <string>

#include <starbus/common/codec.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using starbus::fuzz::check;
    const starbus::decode_result first = starbus::decode(data, size);
    if (!first.ok()) {
        check(!first.reason.empty(), "a refused frame comes with a reason");
        return 0;
    }
    check(starbus::validate(*first.value).empty(), "an accepted message passes validate()");
    const std::string once = starbus::encode(*first.value);
    const starbus::decode_result second = starbus::decode(once.data(), once.size());
    check(second.ok(), "the encoding of an accepted message decodes");
    check(second.value->index() == first.value->index(), "a re-decoded message is the same command");
    check(second.request_id == first.request_id, "a re-decoded message has the same request_id");
    const std::string twice = starbus::encode(*second.value);
    check(twice == once, "encode(decode(encode(m))) == encode(m)");
    return 0;
}
