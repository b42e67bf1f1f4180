// File: fuzz_decode.cpp
// libFuzzer target for the wire decoder (codec.hpp): any bytes, as a frame off
// the request, heartbeat or publish port. decode() must never crash; when it
// accepts a frame, encode() of the result must decode again and re-encode to
// the same bytes (the canonical encoding is a fixed point). The decoder table
// is generated from the `message` variant, so this covers every command,
// including those added later, without a change here. And one definition of
// a valid change (protocol.md "Valid changes"): for an accepted write request,
// the change the server would log passes check_change() and decodes again
// inside CHANGES, as a replica receives it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include <starbus/wire/codec.hpp>
#include <starbus/wire/request_changes.hpp>

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

    std::optional<starbus::change> logged;
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, starbus::publish_request>) logged = starbus::change_for(m, 1);
            else if constexpr (std::is_same_v<T, starbus::set_request> || std::is_same_v<T, starbus::file_put_request> ||
                               std::is_same_v<T, starbus::file_remove_request>)
                logged = starbus::change_for(m);
        },
        *first.value);
    if (logged) {
        logged->epoch = 256;
        logged->seq = 1;
        check(starbus::check_change(*logged).ok(), "the change an accepted request makes is a valid change");
        const std::string batch = starbus::encode(starbus::change_batch{{*logged}, 1});
        check(starbus::decode(batch.data(), batch.size()).ok(), "a replica decodes the change it is sent");
    }
    return 0;
}
