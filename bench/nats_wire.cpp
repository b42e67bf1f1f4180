// File: nats_wire.cpp
// The NATS text protocol over one blocking socket (nats_wire.hpp).
#include "nats_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace starbus::bench::nats {

namespace {

std::string where(const std::string& host, int port) { return "nats://" + host + ":" + std::to_string(port); }

// A protocol line split at spaces, without allocating (MSG has at most 5 fields).
struct split_line {
    std::array<std::string_view, 6> items;
    std::size_t count = 0;
    [[nodiscard]] std::size_t size() const { return count; }
    [[nodiscard]] std::string_view operator[](std::size_t i) const { return items[i]; }
    [[nodiscard]] std::string_view back() const { return items[count - 1]; }
    void push_back(std::string_view v) { items[count++] = v; }
};

split_line fields(std::string_view line) {
    split_line out;
    std::size_t i = 0;
    while (i < line.size() && out.size() < out.items.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

std::size_t to_size(std::string_view text) {
    std::size_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size())
        throw std::runtime_error("nats: bad byte count '" + std::string(text) + "' from the server");
    return v;
}

}  // namespace

connection::connection(const std::string& host, int port, std::chrono::milliseconds timeout) {
    _fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (_fd < 0) throw std::runtime_error("nats: socket(): " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
        ::close(_fd);
        throw std::runtime_error("nats: not an IPv4 address: " + host);
    }
    if (::connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const std::string why = std::strerror(errno);
        ::close(_fd);
        throw std::runtime_error("nats: cannot connect to " + where(host, port) + ": " + why);
    }
    const int one = 1;
    ::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The server speaks first: INFO {...}.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (_info.empty()) {
        if (std::chrono::steady_clock::now() >= deadline)
            throw std::runtime_error("nats: no INFO from " + where(host, port) + " within the timeout");
        if (fill(std::chrono::milliseconds(50))) parse({});
    }
    _out +=
        R"(CONNECT {"verbose":false,"pedantic":false,"name":"starbus-bench-peers","lang":"c++","version":"0","protocol":1,"headers":false})";
    _out += "\r\n";
    if (!ping(timeout)) throw std::runtime_error("nats: no PONG from " + where(host, port) + " after CONNECT");
}

connection::~connection() {
    if (_fd >= 0) ::close(_fd);
}

void connection::subscribe(std::string_view subject, std::string_view sid) {
    _out.append("SUB ").append(subject).append(" ").append(sid).append("\r\n");
}

void connection::publish(std::string_view subject, std::string_view reply, std::string_view payload) {
    char size[24];
    const auto [end, ec] = std::to_chars(size, size + sizeof size, payload.size());
    (void)ec;
    _out.append("PUB ").append(subject).append(" ");
    if (!reply.empty()) _out.append(reply).append(" ");
    _out.append(size, end).append("\r\n").append(payload).append("\r\n");
}

void connection::flush() {
    std::size_t done = 0;
    while (done < _out.size()) {
        const ssize_t n = ::send(_fd, _out.data() + done, _out.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("nats: send(): " + std::string(std::strerror(errno)));
        }
        done += static_cast<std::size_t>(n);
    }
    _out.clear();
}

bool connection::fill(std::chrono::milliseconds timeout) {
    pollfd p{_fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return false;
    if (_in_pos > 0 && _in_pos * 2 >= _in.size()) {
        _in.erase(0, _in_pos);
        _in_pos = 0;
    }
    const std::size_t old = _in.size();
    _in.resize(old + 256 * 1024);
    const ssize_t n = ::recv(_fd, _in.data() + old, 256 * 1024, 0);
    if (n <= 0) {
        _in.resize(old);
        if (n < 0 && errno == EINTR) return false;
        throw std::runtime_error(n == 0 ? "nats: the server closed the connection"
                                        : "nats: recv(): " + std::string(std::strerror(errno)));
    }
    _in.resize(old + static_cast<std::size_t>(n));
    return true;
}

std::size_t connection::parse(const std::function<void(const message&)>& on_message) {
    std::size_t handled = 0;
    bool pong_owed = false;
    while (true) {
        const std::string_view rest(_in.data() + _in_pos, _in.size() - _in_pos);
        const std::size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) break;
        const std::string_view line = rest.substr(0, eol);
        if (line.size() >= 4 && line.substr(0, 4) == "MSG ") {
            const auto f = fields(line);  // MSG subject sid [reply] bytes
            if (f.size() != 4 && f.size() != 5) throw std::runtime_error("nats: malformed MSG line");
            const std::size_t bytes = to_size(f.back());
            if (rest.size() < eol + 2 + bytes + 2) break;  // the payload is not all here yet
            message m{f[1], f[2], f.size() == 5 ? f[3] : std::string_view{}, rest.substr(eol + 2, bytes)};
            if (on_message) on_message(m);
            ++handled;
            _in_pos += eol + 2 + bytes + 2;
            continue;
        }
        _in_pos += eol + 2;
        if (line == "PING") pong_owed = true;
        else if (line == "PONG") ++_pongs;
        else if (line.substr(0, 5) == "INFO ") _info = std::string(line.substr(5));
        else if (line.substr(0, 4) == "-ERR") throw std::runtime_error("nats: server error: " + std::string(line));
        // +OK and anything else: nothing to do (verbose is off).
    }
    if (pong_owed) {
        _out += "PONG\r\n";
        flush();
    }
    return handled;
}

std::size_t connection::read_some(std::chrono::milliseconds timeout,
                                  const std::function<void(const message&)>& on_message) {
    if (!fill(timeout)) return 0;
    return parse(on_message);
}

bool connection::ping(std::chrono::milliseconds timeout, const std::function<void(const message&)>& on_message) {
    const std::uint64_t want = _pongs + 1;
    _out += "PING\r\n";
    flush();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (_pongs < want) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        if (fill(std::min(left, std::chrono::milliseconds(100)))) parse(on_message);
    }
    return true;
}

bool is_error_reply(std::string_view json) { return json.find("\"error\"") != std::string_view::npos; }

}  // namespace starbus::bench::nats
