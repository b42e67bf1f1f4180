// File: reconciler.cpp
// Orphaned changes kept on disk and replayed to the server (reconciler.hpp).
#include "reconciler.hpp"

#include <starbus/security/curve_sockets.hpp>

#include <fstream>
#include <string_view>

#include <msgpack.hpp>
#include <spdlog/spdlog.h>

#include <starbus/wire/codec.hpp>
#include <starbus/files/fast_hash.hpp>
#include <starbus/files/posix_io.hpp>

namespace starbus {
namespace {

constexpr std::string_view orphans_magic = "SBORPH01";
// Replays in flight at once, and how long an unanswered one waits before it is sent again.
constexpr std::size_t replay_window = 256;
constexpr std::chrono::seconds replay_timeout{5};
// A server that is not ready (RETRY_LATER, NOT_SERVING) is asked again after this.
constexpr std::chrono::milliseconds replay_pause{200};

}  // namespace

reconciler::reconciler(zmq::context_t& ctx, const std::filesystem::path& data_dir, file_store& files)
    : _ctx(ctx), _path(data_dir / "orphans"), _files(files) {
    load();
}

void reconciler::load() {
    std::ifstream in(_path, std::ios::binary);
    if (!in) return;
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
        msgpack::object_handle h = msgpack::unpack(data.data(), data.size());
        auto [magic, changes] = h.get().as<std::pair<std::string, std::vector<change>>>();
        if (magic != orphans_magic) throw std::runtime_error("not an orphans file");
        _orphans = std::move(changes);
        if (!_orphans.empty())
            spdlog::warn("reconcile: {} changes of an earlier history wait to be replayed to the server",
                         _orphans.size());
    } catch (const std::exception& e) {
        // Never fatal: the file only ever holds copies of changes, and the broker must start.
        spdlog::error("reconcile: cannot read {} ({}): the changes it held are not replayed", _path.string(),
                      e.what());
    }
}

void reconciler::persist() {
    if (!_dirty) return;
    _dirty = false;
    std::error_code ec;
    if (_orphans.empty()) {
        std::filesystem::remove(_path, ec);
        return;
    }
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, std::make_pair(std::string(orphans_magic), _orphans));
    try {
        // Crash-safe: a crash leaves the previous list or this one, never a torn file.
        (void)atomic_replace(_path, std::string_view(buffer.data(), buffer.size()),
                             "; the changes are kept in memory only");
    } catch (const storage_error& e) {
        spdlog::error("reconcile: {}", e.what());
    }
}

void reconciler::adopt(const std::vector<change>& orphans) {
    std::set<std::pair<std::uint64_t, std::uint64_t>> known;
    for (const auto& c : _orphans) known.insert({c.client_id, c.request_id});
    std::size_t added = 0;
    for (const auto& c : orphans) {
        if (c.client_id == 0 || !known.insert({c.client_id, c.request_id}).second) continue;
        _orphans.push_back(c);
        ++added;
    }
    if (added == 0) return;
    spdlog::warn("reconcile: {} changes of this broker's history are not in the server's: kept to be replayed",
                 added);
    _dirty = true;
    persist();
}

void reconciler::follow(const broker_info* server, bool server_is_primary) {
    const std::string name = server ? server->name : std::string{};
    if (name == _server && server_is_primary == _server_is_primary && (_socket || !server)) return;
    _server = name;
    _server_is_primary = server_is_primary;
    _in_flight.clear();
    _refused.clear();
    _socket.reset();
    if (!server) return;
    _socket = std::make_unique<zmq::socket_t>(_ctx, zmq::socket_type::dealer);
    _socket->set(zmq::sockopt::linger, 0);
    _socket->set(zmq::sockopt::maxmsgsize, limits::max_frame_bytes);
    if (_own_key) make_curve_client(*_socket, *_own_key, server->public_key);
    _socket->connect(server->request_endpoint());
}

void reconciler::finish(std::uint64_t client_id, std::uint64_t request_id) {
    const auto before = _orphans.size();
    std::erase_if(_orphans, [&](const change& c) { return c.client_id == client_id && c.request_id == request_id; });
    if (_orphans.size() != before) _dirty = true;
}

void reconciler::serve_fetch(const fetch_request& r) {
    // The primary fetches the content of a replayed file change from us, like an upload.
    std::string why;
    const file_chunk_view header{r.request_id, r.path, r.hash, r.offset, 0, {}};
    auto frame = encode_chunk_frame(header, r.length, [&](char* dst) -> std::optional<std::uint64_t> {
        if (!_files.read(r.hash, r.offset, r.length, dst, &why)) return std::nullopt;
        return chunk_checksum(dst, r.length);
    });
    if (frame) {
        (void)_socket->send(*frame, zmq::send_flags::dontwait);
        return;
    }
    error_reply e;
    e.request_id = r.request_id;
    e.code_value = error_code::stale_version;
    e.text = "the replayed version of " + r.path + " is not held here any more: " + why;
    (void)_socket->send(encode_frame(e), zmq::send_flags::dontwait);
}

void reconciler::drain(steady_time now) {
    for (int i = 0; i < 4096 && _socket; ++i) {
        zmq::message_t frame;
        if (!_socket->recv(frame, zmq::recv_flags::dontwait)) break;
        decode_result d = decode(frame);
        if (!d.ok()) continue;
        if (const auto* ack = std::get_if<ack_reply>(&*d.value)) {
            for (auto id : ack->request_ids) {
                auto f = _in_flight.find(id);
                if (f == _in_flight.end()) continue;
                finish(f->second.client_id, id);
                _in_flight.erase(f);
            }
        } else if (const auto* e = std::get_if<error_reply>(&*d.value)) {
            auto f = _in_flight.find(e->request_id);
            if (f == _in_flight.end()) continue;
            const std::uint64_t client = f->second.client_id;
            _in_flight.erase(f);
            switch (e->code_value) {
                case error_code::config_refused: _refused.insert({client, e->request_id}); break;
                case error_code::not_serving:
                case error_code::retry_later:
                case error_code::storage_failed: _retry_at = now + replay_pause; break;
                default:
                    // It can never be applied (malformed, too large): keeping it would retry forever.
                    spdlog::error("reconcile: {} refused a replayed change for good ({}: {}); dropping it", _server,
                                  to_string(e->code_value), e->text);
                    finish(client, e->request_id);
            }
        } else if (const auto* fetch = std::get_if<fetch_request>(&*d.value)) {
            serve_fetch(*fetch);
        }
    }
    if (_orphans.empty() && !_in_flight.empty()) _in_flight.clear();
    persist();
    send_due(now);
}

void reconciler::tick(steady_time now) {
    for (auto it = _in_flight.begin(); it != _in_flight.end();)
        it = now - it->second.sent > replay_timeout ? _in_flight.erase(it) : std::next(it);
    send_due(now);
}

void reconciler::send_due(steady_time now) {
    if (!_socket || _orphans.empty() || now < _retry_at) return;
    std::size_t sent = 0;
    for (const auto& c : _orphans) {
        if (_in_flight.size() >= replay_window) break;
        if (_in_flight.contains(c.request_id) || _refused.contains({c.client_id, c.request_id})) continue;
        if (c.cls == change_class::config && !_server_is_primary) continue;  // it would be refused: wait
        message m;
        switch (c.op) {
            case change_op::put:
            case change_op::erase: m = set_request{c.request_id, c.client_id, c.op, c.cls, c.key, c.value}; break;
            case change_op::file_put: {
                auto e = file_entry_of(c);
                if (!e) continue;
                m = file_put_request{c.request_id, c.client_id, c.key, e->size, e->hash, e->xxh};
                break;
            }
            case change_op::file_erase: m = file_remove_request{c.request_id, c.client_id, c.key}; break;
            case change_op::publish: m = publish_request{c.request_id, c.client_id, c.key, c.value}; break;
        }
        if (!_socket->send(encode_frame(m), zmq::send_flags::dontwait)) break;
        _in_flight[c.request_id] = flight{c.client_id, now};
        ++sent;
    }
    if (sent > 0) spdlog::info("reconcile: replayed {} changes to {} ({} left)", sent, _server, _orphans.size());
}

std::vector<change> reconciler::take_for_server(bool primary) {
    std::vector<change> out, kept;
    for (auto& c : _orphans) (primary || c.cls != change_class::config ? out : kept).push_back(std::move(c));
    _orphans = std::move(kept);
    _in_flight.clear();
    // Written once the broker's log holds them (flush(), after the batch's fdatasync): a crash in between
    // must find them in one place or the other.
    if (!out.empty()) _dirty = true;
    return out;
}

std::vector<std::string> reconciler::hashes() const {
    std::vector<std::string> out;
    for (const auto& c : _orphans)
        if (auto e = file_entry_of(c)) out.push_back(e->hash);
    return out;
}

std::string reconciler::describe() const {
    if (_orphans.empty()) return {};
    std::size_t config = 0;
    for (const auto& c : _orphans) config += c.cls == change_class::config ? 1 : 0;
    std::string out = "replaying " + std::to_string(_orphans.size()) + " changes of a parted history";
    if (!_server.empty()) out += " to " + _server;
    if (config > 0 && !_server_is_primary)
        out += " (" + std::to_string(config) + " configuration changes wait for the primary)";
    return out;
}

}  // namespace starbus
