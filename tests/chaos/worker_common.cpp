// File: worker_common.cpp
// What every mode of starbus-chaos-worker shares: the history writer and
// the recording of the client library's events.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <starbus/client/client.hpp>

#include "broker_log.hpp"
#include "worker.hpp"

namespace starbus::chaos {

history_writer::history_writer(const std::string& path) {
    _fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (_fd < 0) throw std::runtime_error("cannot open history " + path + ": " + std::strerror(errno));
}

history_writer::~history_writer() {
    if (_fd >= 0) ::close(_fd);
}

void history_writer::write(const std::string& line) {
    const std::string l = line + "\n";
    std::size_t done = 0;
    while (done < l.size()) {
        const ssize_t n = ::write(_fd, l.data() + done, l.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(std::string("cannot write the history: ") + std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
}

namespace {

std::string event_kind(const client_event& e) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, server_changed>) return "server_changed";
            else if constexpr (std::is_same_v<T, server_lost>) return "server_lost";
            else if constexpr (std::is_same_v<T, synchronised>) return "synchronised";
            else if constexpr (std::is_same_v<T, bus_gap>) return "gap";  // what bus_check counts as covering a loss
            else return "change_refused";
        },
        e);
}

}  // namespace

void record_events(client& c, history_writer& out, const std::string& process) {
    c.on_event([&out, process](const client_event& e) {
        out.write(event_line({process, wall_ms(), event_kind(e), describe(e)}));
    });
}

}  // namespace starbus::chaos
