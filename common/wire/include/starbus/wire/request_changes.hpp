// File: request_changes.hpp
// The change a server logs for each write request, as a pure function of the
// request (and the time, for a bus message): the server builds every change it
// logs here, and the property tests and the fuzz target check, over any
// request decode() accepts, that what it builds passes check_change() (codec.hpp)
// and so that every replica applies it. Position (epoch, seq) is left 0: the
// server sets it when it logs the change.
#pragma once

#include <cstdint>

#include <starbus/wire/messages.hpp>

namespace starbus {

// SET: a put or an erase of a key (an erase carries no value).
[[nodiscard]] change change_for(const set_request& r);
// PUBLISH: a bus message, stamped with the server's wall clock (ms since the Unix epoch).
[[nodiscard]] change change_for(const publish_request& r, std::uint64_t time_ms);
[[nodiscard]] change change_for(const publish_view& r, std::uint64_t time_ms);
// FILE-PUT, once the content is held: the version `r` describes, installed at its path.
[[nodiscard]] change change_for(const file_put_request& r);
// FILE-RM: the removal of a file.
[[nodiscard]] change change_for(const file_remove_request& r);

}  // namespace starbus
