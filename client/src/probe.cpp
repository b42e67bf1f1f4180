// File: probe.cpp
// Status of every broker, one broker's state, force (probe.hpp).
#include "probe.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>

#include "connection.hpp"
#include "handshake_monitor.hpp"
#include "state_mirror.hpp"
#include <starbus/security/curve_sockets.hpp>
#include <starbus/wire/codec.hpp>

namespace starbus::client_detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A DEALER to one broker and, with CURVE, the monitor that tells of a refused key.
struct probe_socket {
    explicit probe_socket(zmq::socket_t socket) : s(std::move(socket)) {}
    zmq::socket_t s;
    std::optional<handshake_monitor> monitor;
    bool key_refused = false;
    bool handshake_failed = false;  // the broker does not hold the key the cluster file gives it

    // Reads the monitor (without waiting); true once the broker refused the key.
    bool refused() {
        if (monitor && !key_refused) {
            const auto seen = monitor->read();
            key_refused = seen.key_refused;
            handshake_failed = handshake_failed || seen.failed;
        }
        return key_refused;
    }
};

std::unique_ptr<probe_socket> open_dealer(const probe_link& link, const broker_info& b) {
    auto p = std::make_unique<probe_socket>(zmq::socket_t(link.context, zmq::socket_type::dealer));
    configure_client_socket(p->s);
    if (!link.key.empty()) {
        make_curve_client(p->s, link.key, b.public_key);
        p->monitor.emplace(link.context, p->s);
    }
    p->s.connect(b.request_endpoint());
    return p;
}

void send_message(probe_socket& p, const message& m) {
    // A fresh DEALER queues the frame until it connects: this never blocks.
    static_cast<void>(p.s.send(encode_frame(m), zmq::send_flags::dontwait));
}

std::string refused_text(const broker_info& b, const curve_key_pair& key) {
    return "broker " + b.name + " refused this client's key (public key " + key.public_key.substr(0, 8) +
           "…): it is not in the access list; an admin grants it with `starbus access grant NAME ROLE FILE.pub`";
}

std::string millis(clock::duration d) {
    return std::to_string(std::chrono::ceil<milliseconds>(d).count()) + " ms";
}

// Reads one frame if s has one; nullopt when none is waiting or it is not a
// starbus message.
std::optional<message> read_message(zmq::socket_t& s) {
    zmq::message_t frame;
    try {
        if (!s.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    } catch (const zmq::error_t&) {
        return std::nullopt;
    }
    decode_result d = decode(frame);
    if (!d.ok()) return std::nullopt;
    return std::move(d.value);
}

// Waits for the next starbus message on p until `until`, or until the broker refuses the key
// (nullopt, p.key_refused set).
std::optional<message> wait_message(probe_socket& p, clock::time_point until) {
    for (;;) {
        const auto now = clock::now();
        if (now >= until || p.refused()) return std::nullopt;
        zmq::pollitem_t items[2] = {{p.s.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, 0, ZMQ_POLLIN, 0}};
        std::size_t n = 1;
        if (p.monitor) items[n++] = {p.monitor->socket().handle(), 0, ZMQ_POLLIN, 0};
        const auto wait = std::min(milliseconds(1000), std::chrono::ceil<milliseconds>(until - now));
        if (poll_items(items, n, wait) > 0 && (items[0].revents & ZMQ_POLLIN))
            if (auto m = read_message(p.s)) return m;
    }
}

}  // namespace

std::vector<broker_status> probe_status(const probe_link& link, const cluster_config& cluster,
                                        const id_source& next_id, clock::time_point deadline) {
    const auto started = clock::now();
    const std::size_t n = cluster.brokers.size();
    std::vector<broker_status> rows(n);
    std::vector<std::unique_ptr<probe_socket>> sockets;
    std::vector<std::uint64_t> ids(n);
    std::vector<bool> answered(n, false);
    sockets.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const broker_info& b = cluster.brokers[i];
        rows[i].name = b.name;
        rows[i].rank = b.rank;
        rows[i].role = "down";
        sockets.push_back(open_dealer(link, b));
        ids[i] = next_id();
        send_message(*sockets[i], status_request{ids[i]});
    }
    std::size_t remaining = n;
    std::vector<zmq::pollitem_t> items;
    std::vector<std::size_t> which;
    while (remaining > 0) {
        const auto now = clock::now();
        if (now >= deadline) break;
        items.clear();
        which.clear();
        for (std::size_t i = 0; i < n; ++i) {
            if (answered[i]) continue;
            if (sockets[i]->refused()) {
                rows[i].key_refused = true;
                rows[i].note = refused_text(cluster.brokers[i], link.key);
                answered[i] = true;
                --remaining;
                continue;
            }
            items.push_back({sockets[i]->s.handle(), 0, ZMQ_POLLIN, 0});
            which.push_back(i);
            if (sockets[i]->monitor) {
                items.push_back({sockets[i]->monitor->socket().handle(), 0, ZMQ_POLLIN, 0});
                which.push_back(i);
            }
        }
        if (items.empty()) break;
        const auto wait = std::min(milliseconds(1000), std::chrono::ceil<milliseconds>(deadline - now));
        if (poll_items(items.data(), items.size(), wait) <= 0) continue;
        for (std::size_t k = 0; k < items.size(); ++k) {
            if (!(items[k].revents & ZMQ_POLLIN)) continue;
            const std::size_t i = which[k];
            while (!answered[i]) {
                auto m = read_message(sockets[i]->s);
                if (!m) break;
                broker_status& row = rows[i];
                if (const auto* s = std::get_if<status_reply>(&*m); s && s->request_id == ids[i]) {
                    row.reachable = true;
                    row.state = s->state;
                    row.role = std::string(role_name(s->state));
                    row.epoch = s->epoch;
                    row.seq = s->seq;
                    row.pending = s->pending;
                    row.pending_files = s->pending_files;
                    row.pending_bytes = s->pending_bytes;
                    row.clients = s->clients;
                    row.server = s->server;
                    row.note = s->note;
                    row.protocol = protocol_version;  // decode() accepts this version only
                    row.release = s->release;
                    row.libzmq = s->libzmq;
                } else if (const auto* e = std::get_if<error_reply>(&*m); e && e->request_id == ids[i]) {
                    row.note = "answered " + std::string(to_string(e->code_value)) + ": " + e->text;
                } else {
                    continue;
                }
                answered[i] = true;
                --remaining;
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (answered[i]) continue;
        (void)sockets[i]->refused();
        rows[i].note = sockets[i]->handshake_failed
                           ? rows[i].name + " failed the CURVE handshake: it does not hold the key the cluster file "
                                            "gives it (an impostor at its address, or a cluster file out of date)"
                           : "no answer within " + millis(deadline - started);
    }
    return rows;
}

dump_result fetch_snapshot(const probe_link& link, const broker_info& b, bool require_serving,
                           const id_source& next_id, clock::time_point deadline, milliseconds silence,
                           bool retry_when_silent) {
    dump_result out;
    out.broker = b.name;
    out.server = b.name;
    auto s = open_dealer(link, b);
    state_mirror collector;
    auto send_request = [&] {
        collector = state_mirror();
        send_message(*s, collector.start_sync(next_id(), require_serving));
    };
    send_request();
    auto last_rx = clock::now();
    for (;;) {
        auto m = wait_message(*s, std::min(deadline, last_rx + silence));
        const auto now = clock::now();
        if (!m && s->key_refused) {
            out.status = result_status::not_authorised;
            out.message = refused_text(b, link.key);
            return out;
        }
        if (!m) {
            if (now >= deadline || !retry_when_silent) {
                out.status = result_status::unreachable;
                out.message = b.name + (now >= deadline ? " did not send its state before the deadline"
                                                        : " stopped answering within " + millis(silence));
                return out;
            }
            // Silent: a new socket (linger 0 drops the old one's queue) and a new request.
            s = open_dealer(link, b);
            send_request();
            last_rx = now;
            continue;
        }
        last_rx = now;
        state_mirror::outcome o = state_mirror::outcome::ignored;
        if (const auto* part = std::get_if<snapshot_part>(&*m)) {
            o = collector.on_part(*part);
        } else if (const auto* batch = std::get_if<change_batch>(&*m)) {
            o = collector.on_delta(*batch);
        } else if (const auto* end = std::get_if<snapshot_end>(&*m)) {
            o = collector.on_end(*end);
        } else if (const auto* e = std::get_if<error_reply>(&*m); e && e->request_id == collector.sync_request_id()) {
            if (e->code_value == error_code::retry_later) {
                std::this_thread::sleep_for(milliseconds(20));
                send_request();
                continue;
            }
            const bool refusal = e->code_value == error_code::not_serving || e->code_value == error_code::refused;
            out.status = e->code_value == error_code::not_authorised ? result_status::not_authorised
                         : refusal                                    ? result_status::refused
                                                                      : result_status::invalid;
            out.message = b.name + ": " + (e->text.empty() ? std::string(to_string(e->code_value)) : e->text);
            out.server = e->server;
            return out;
        }
        if (o == state_mirror::outcome::gap) {
            send_request();  // the delta did not line up: ask again (from nothing)
        } else if (o == state_mirror::outcome::completed) {
            out.position = collector.last();
            out.entries.reserve(collector.state().entries().size());
            for (const auto& [key, c] : collector.state().entries()) out.entries.push_back(c);
            out.files = collector.state().files().entries();
            return out;
        }
    }
}

result force_broker(const probe_link& link, const broker_info& b, const id_source& next_id,
                    clock::time_point deadline, milliseconds silence) {
    result out;
    out.server = b.name;
    auto s = open_dealer(link, b);
    std::uint64_t id = next_id();
    send_message(*s, force_request{id});
    auto last_rx = clock::now();
    for (;;) {
        auto m = wait_message(*s, std::min(deadline, last_rx + silence));
        const auto now = clock::now();
        if (!m && s->key_refused) {
            out.status = result_status::not_authorised;
            out.message = refused_text(b, link.key);
            return out;
        }
        if (!m) {
            if (now >= deadline) {
                out.status = result_status::unreachable;
                out.message = b.name + " did not answer before the deadline";
                return out;
            }
            s = open_dealer(link, b);
            id = next_id();
            send_message(*s, force_request{id});
            last_rx = now;
            continue;
        }
        last_rx = now;
        if (const auto* a = std::get_if<ack_reply>(&*m)) {
            if (std::find(a->request_ids.begin(), a->request_ids.end(), id) == a->request_ids.end()) continue;
            out.position = position{a->epoch, a->seq};
            return out;
        }
        if (const auto* st = std::get_if<status_reply>(&*m); st && st->request_id == id) {
            if (st->state == broker_state::active || st->state == broker_state::handover) return out;
            out.status = result_status::refused;
            out.message = b.name + " is " + std::string(to_string(st->state)) + " after force" +
                          (st->note.empty() ? "" : ": " + st->note);
            return out;
        }
        if (const auto* e = std::get_if<error_reply>(&*m); e && e->request_id == id) {
            out.status = e->code_value == error_code::not_authorised ? result_status::not_authorised
                                                                     : result_status::refused;
            out.message = b.name + " refused: " + (e->text.empty() ? std::string(to_string(e->code_value)) : e->text);
            out.server = e->server;
            return out;
        }
    }
}

}  // namespace starbus::client_detail
