// File: operator_report.cpp
// The broker's side of the HTTP endpoint: the report it hands over (a copy,
// made every few hundred milliseconds in the tick, never on a request's
// path), and the role transitions it keeps for the status page.
#include "broker_impl.hpp"

#include <starbus/version.hpp>

namespace starbus {
namespace {

// Role transitions kept for the status page.
constexpr std::size_t transitions_kept = 20;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

void broker::impl::note_transition(broker_state from, fsm_event e, broker_state to, std::string_view why) {
    if (from != to) ++_role_changes;
    const auto unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    _transitions.push_back({unix_ms, std::string(to_string(from)), std::string(to_string(e)),
                            std::string(to_string(to)), std::string(why)});
    if (_transitions.size() > transitions_kept) _transitions.pop_front();
}

std::shared_ptr<const broker_report> broker::impl::make_report(steady_time now) const {
    auto r = std::make_shared<broker_report>();
    r->release = std::string(release_version);
    r->protocol = protocol_version;
    r->libzmq = libzmq_version();
    r->name = _me.name;
    r->rank = _me.rank;
    r->state = _state;
    r->synchronised_replica = _state == broker_state::passive;
    r->epoch = _replica.epoch();
    r->seq = _replica.last().seq;
    if (serving()) r->commit_seq = _writes.commit_seq();
    r->server = server_name(now);
    r->note = note(now);
    r->serving_starts = _serving_starts;
    r->role_changes = _role_changes;
    for (std::size_t c = 0; c < _requests_by_command.size(); ++c)
        if (_requests_by_command[c] > 0)
            r->requests[lower(to_string(static_cast<command>(c)))] = _requests_by_command[c];
    for (int code = 1; code <= error_code_max; ++code)
        if (_errors_by_code[static_cast<std::size_t>(code)] > 0)
            r->refused[lower(to_string(static_cast<error_code>(code)))] = _errors_by_code[static_cast<std::size_t>(code)];
    if (_zap && _zap->refused() > 0) r->refused["handshake"] = _zap->refused();
    r->bus_messages = _bus_accepted;
    r->bus_retained = _replica.state().bus_log().size();
    r->clients = _clients.held();
    r->files = _replica.state().files().size();
    r->file_bytes = _replica.state().files().total_bytes();
    r->fsync = _fsync;
    for (const auto& b : _options.cluster.brokers) {
        peer_report p;
        p.name = b.name;
        p.rank = b.rank;
        if (b.rank == _me.rank) {
            p.self = true;
            p.heard = true;
            p.heard_ms_ago = 0;
            p.state = std::string(to_string(_state));
            p.epoch = r->epoch;
            p.seq = r->seq;
        } else if (const heartbeat* hb = _peers.last(b.rank)) {
            p.heard = true;
            p.heard_ms_ago =
                std::chrono::duration_cast<std::chrono::milliseconds>(now - _peers.heard_at(b.rank)).count();
            // A peer silent for longer than the expiry may be gone: what it last said is history.
            if (now - _peers.heard_at(b.rank) <= _options.cluster.expiry) p.state = std::string(to_string(hb->state));
            p.epoch = hb->epoch;
            p.seq = hb->seq;
        }
        if (serving() && !p.self)
            if (const replica_session* s = _replication.session_of(b.name)) {
                p.lag = r->seq > s->acked ? r->seq - s->acked : 0;
                p.synchronised = s->synced;
            }
        r->brokers.push_back(std::move(p));
    }
    r->transitions.assign(_transitions.begin(), _transitions.end());
    r->made_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return r;
}

}  // namespace starbus
