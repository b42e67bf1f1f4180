// File: relay_main.cpp
// starbus-chaos-relay: a "bump in the wire" that delays and drops Ethernet
// frames between two interfaces, for kernels built without sch_netem (such
// as the project's VM, where `tc qdisc add ... netem` answers "Specified
// qdisc kind is unknown"). The harness runs it in the switch namespace,
// between a host's veth port and the bridge (see link_shaper.cpp):
//
//   host eth0 <-veth-> outer  [relay]  inner <-veth-> bridge port
//
// It reads every frame arriving on one side with an AF_PACKET socket and
// sends it out of the other after the delay, unless the seeded coin says
// drop. Frames keep their order per direction (a frame is never released
// before the one ahead of it), like netem with its default FIFO child.
// PACKET_VNET_HDR carries the offload metadata across: frames from a local
// TCP stack arrive unsegmented (GSO) and with their checksum left for the
// hardware, and the header lets the kernel finish both on the way out.
//
//   starbus-chaos-relay --outer IF --inner IF --delay-ms D [--jitter-ms J]
//                       [--loss-pct L] [--seed S]
// Runs until SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "rng.hpp"

namespace {

// The only process-wide state: what the signal handler may touch.
std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested.store(true); }

using clock_type = std::chrono::steady_clock;

// Frames waiting beyond this many per direction are dropped, as netem's
// default limit of 1000 packets does; a bound keeps a long delay under a
// flood from growing memory without end.
constexpr std::size_t max_queued = 4096;
// A GSO frame may hold up to 64 KiB of payload, plus headers.
constexpr std::size_t max_frame = 65536 + 256;
// struct virtio_net_hdr, which PACKET_VNET_HDR puts before every frame. The
// relay passes it through untouched, so it needs only its size (and
// <linux/virtio_net.h> does not compile as C++: a field is named `class`).
constexpr std::size_t vnet_header_size = 10;

struct frame {
    clock_type::time_point due;
    std::vector<char> bytes;  // virtio_net_hdr followed by the Ethernet frame
};

// One AF_PACKET socket bound to one interface, every frame in (promiscuous),
// our own transmissions not looped back.
class packet_port {
  public:
    explicit packet_port(const std::string& ifname) : _name(ifname) {
        const unsigned index = ::if_nametoindex(ifname.c_str());
        if (index == 0) fail("no interface named " + ifname + " in this namespace: run me with ip netns exec");
        _fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
        if (_fd < 0) fail("cannot open a packet socket (root needed)");
        int one = 1;
        if (::setsockopt(_fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) fail("PACKET_VNET_HDR");
        if (::setsockopt(_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
            fail("PACKET_IGNORE_OUTGOING (kernel 4.20 or later needed)");
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(ETH_P_ALL);
        addr.sll_ifindex = static_cast<int>(index);
        if (::bind(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind to " + ifname);
        packet_mreq mr{};
        mr.mr_ifindex = static_cast<int>(index);
        mr.mr_type = PACKET_MR_PROMISC;
        if (::setsockopt(_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) fail("promiscuous mode");
    }
    ~packet_port() {
        if (_fd >= 0) ::close(_fd);
    }
    packet_port(const packet_port&) = delete;
    packet_port& operator=(const packet_port&) = delete;

    [[nodiscard]] int fd() const { return _fd; }

    // One frame, or an empty vector when none is waiting.
    std::vector<char> receive() {
        std::vector<char> buf(max_frame + vnet_header_size);
        const ssize_t n = ::recv(_fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n <= 0) return {};
        buf.resize(static_cast<std::size_t>(n));
        return buf;
    }

    // Sends one frame; a frame the interface refuses (queue full, link
    // down while the harness rewires) is simply lost, as on a real wire.
    void send(const std::vector<char>& bytes) {
        if (::send(_fd, bytes.data(), bytes.size(), MSG_DONTWAIT) < 0) ++_send_errors;
    }

    [[nodiscard]] std::uint64_t send_errors() const { return _send_errors; }

  private:
    [[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

    std::string _name;
    int _fd = -1;
    std::uint64_t _send_errors = 0;
};

// One direction of the wire: the frames in flight and the shaping rule.
class direction {
  public:
    direction(std::chrono::milliseconds delay, std::chrono::milliseconds jitter, int loss_pct, starbus::chaos::rng coin)
        : _delay(delay), _jitter(jitter), _loss_pct(loss_pct), _coin(coin) {}

    void accept(std::vector<char> bytes, clock_type::time_point now) {
        ++_seen;
        if (_coin.chance(_loss_pct) || _queue.size() >= max_queued) {
            ++_dropped;
            return;
        }
        const auto j = _jitter.count() > 0 ? _coin.between(-_jitter.count(), _jitter.count()) : 0;
        auto due = now + _delay + std::chrono::milliseconds(j);
        // FIFO: never overtake the frame ahead.
        if (!_queue.empty() && due < _queue.back().due) due = _queue.back().due;
        _queue.push_back({due, std::move(bytes)});
    }

    // Sends every frame that is due.
    void release(packet_port& out, clock_type::time_point now) {
        while (!_queue.empty() && _queue.front().due <= now) {
            out.send(_queue.front().bytes);
            _queue.pop_front();
        }
    }

    [[nodiscard]] std::optional<clock_type::time_point> next_due() const {
        if (_queue.empty()) return std::nullopt;
        return _queue.front().due;
    }
    [[nodiscard]] std::uint64_t seen() const { return _seen; }
    [[nodiscard]] std::uint64_t dropped() const { return _dropped; }

  private:
    std::chrono::milliseconds _delay;
    std::chrono::milliseconds _jitter;
    int _loss_pct;
    starbus::chaos::rng _coin;
    std::deque<frame> _queue;
    std::uint64_t _seen = 0;
    std::uint64_t _dropped = 0;
};

int run(const std::string& outer_if, const std::string& inner_if, int delay_ms, int jitter_ms, int loss_pct,
        std::uint64_t seed) {
    packet_port outer(outer_if);
    packet_port inner(inner_if);
    const starbus::chaos::rng base(seed);
    direction out_to_in(std::chrono::milliseconds(delay_ms), std::chrono::milliseconds(jitter_ms), loss_pct,
                        base.fork(1));
    direction in_to_out(std::chrono::milliseconds(delay_ms), std::chrono::milliseconds(jitter_ms), loss_pct,
                        base.fork(2));
    std::cerr << "relay " << outer_if << " <-> " << inner_if << ": delay " << delay_ms << " ms +/- " << jitter_ms
              << " ms, loss " << loss_pct << " %\n";

    while (!stop_requested.load()) {
        auto now = clock_type::now();
        // Wake for the next due frame, and at least every 100 ms to notice a signal.
        auto wait = std::chrono::milliseconds(100);
        for (const auto* d : {&out_to_in, &in_to_out}) {
            if (auto due = d->next_due()) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - now);
                if (left < wait) wait = left < std::chrono::milliseconds(0) ? std::chrono::milliseconds(0) : left;
            }
        }
        pollfd fds[2] = {{outer.fd(), POLLIN, 0}, {inner.fd(), POLLIN, 0}};
        ::poll(fds, 2, static_cast<int>(wait.count()));
        now = clock_type::now();
        // Drain a bounded batch per wake-up, so one busy side cannot starve the other.
        for (int i = 0; i < 256; ++i) {
            auto a = outer.receive();
            auto b = inner.receive();
            if (a.empty() && b.empty()) break;
            if (!a.empty()) out_to_in.accept(std::move(a), now);
            if (!b.empty()) in_to_out.accept(std::move(b), now);
        }
        out_to_in.release(inner, now);
        in_to_out.release(outer, now);
    }
    std::cerr << "relay stopping: " << out_to_in.seen() << " frames in (" << out_to_in.dropped() << " dropped), "
              << in_to_out.seen() << " frames out (" << in_to_out.dropped() << " dropped), "
              << outer.send_errors() + inner.send_errors() << " send errors\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-chaos-relay: delays and drops frames between two interfaces (netem without sch_netem)"};
    std::string outer_if, inner_if;
    int delay_ms = 0, jitter_ms = 0, loss_pct = 0;
    std::uint64_t seed = 1;
    app.add_option("--outer", outer_if, "interface towards the host")->required();
    app.add_option("--inner", inner_if, "interface towards the bridge")->required();
    app.add_option("--delay-ms", delay_ms, "one-way delay added to every frame")->check(CLI::Range(0, 10000));
    app.add_option("--jitter-ms", jitter_ms, "uniform jitter, +/-")->check(CLI::Range(0, 10000));
    app.add_option("--loss-pct", loss_pct, "percentage of frames dropped, per direction")->check(CLI::Range(0, 100));
    app.add_option("--seed", seed, "seed of the loss and jitter draws");
    CLI11_PARSE(app, argc, argv);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    try {
        return run(outer_if, inner_if, delay_ms, jitter_ms, loss_pct, seed);
    } catch (const std::exception& e) {
        std::cerr << "starbus-chaos-relay: " << e.what() << "\n";
        return 1;
    }
}
