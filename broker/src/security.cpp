// File: security.cpp
// CURVE and who may do what (docs/protocol.md "Security"). With security
// mode curve every bound port is a CURVE server whose handshakes this
// broker's ZAP handler judges (brokers by the cluster file's keys, clients by
// the access list), every connection to a peer is a CURVE client that checks
// the peer's key, and every request is judged again, when it arrives, by the
// key its connection proved: so a revocation cuts off a connection that is
// already open at its next request. The publish port, where nothing is
// requested, is closed and reopened when the list loses a key.
#include "broker_impl.hpp"

#include <spdlog/spdlog.h>

#include <starbus/security/curve_sockets.hpp>

namespace starbus {

void broker::impl::secure_sockets() {
    const curve_key_pair& key = _options.key;
    if (!_options.cluster.curve()) {
        if (!key.empty())
            spdlog::warn("security: --key given, but the cluster file's [security] mode is \"none\": the key is "
                         "not used and nothing is encrypted");
        return;
    }
    // find_me() checked the key already, before the data directory was read.
    _zap.emplace(_ctx);
    make_curve_server(_router, key, zap_domain_requests);
    make_curve_server(_publisher, key, zap_domain_publish);
    make_curve_server(_beacon, key, zap_domain_heartbeat);
    _follower.secure_with(key);
    _reconciler.secure_with(key);
}

const access_list& broker::impl::access_now() {
    // Cheap when nothing moved (the same position), and cheap when only other keys did (a few entries read).
    const position at = _replica.last();
    if (_access_at && *_access_at == at) return _access;
    const bool first = !_access_at;
    _access_at = at;
    if (!first && access_list::mark_of(_replica.state()) == _access.built_from()) return _access;
    access_list next = access_list::build(_options.cluster, _replica.state());
    if (!first && next.narrows(_access)) _publish_reset_due = true;
    _access = std::move(next);
    return _access;
}

std::string broker::impl::authorise(const zmq::message_t& body, const request_need& need,
                                    std::string_view claimed_broker) {
    if (!_options.cluster.curve()) return {};
    // Set by libzmq from the ZAP handler's answer (the public key) on every frame of a CURVE connection.
    const char* user_id = zmq_msg_gets(body.handle(), "User-Id");
    const peer_identity who = identify(_options.cluster, access_now(), user_id ? user_id : "");
    return refusal(who, need, claimed_broker, _me.name);
}

std::string broker::impl::access_conflict(const set_request& r) {
    if (r.op != change_op::put || std::string_view(r.key).substr(0, access_key_prefix.size()) != access_key_prefix)
        return {};
    const auto value = parse_access_value(r.value);
    if (!value || value->revoked) return {};  // a malformed one is refused by check_change
    const std::string name = r.key.substr(access_key_prefix.size());
    if (const broker_info* b = _options.cluster.find_by_key(value->public_key))
        return "the key granted to " + name + " is broker " + b->name + "'s: give the client a key of its own";
    if (const access_list_entry* e = access_now().by_key(value->public_key); e && e->name != name)
        return "the key granted to " + name + " is already client " + e->name +
               "'s: revoke " + e->name + " first, or give " + name + " a key of its own";
    return {};
}

void broker::impl::refuse_unauthorised(const std::string& identity, std::uint64_t request_id, const std::string& why,
                                       steady_time now) {
    ++_unauthorised;
    log_bad_input("security: " + why + " [" + std::to_string(_unauthorised) + " refused so far]", now);
    reply_error(identity, request_id, error_code::not_authorised, why);
}

void broker::impl::redial_silent_peers(steady_time now) {
    const auto patience = std::max<std::chrono::milliseconds>(2 * _options.cluster.expiry, std::chrono::seconds(1));
    if (now - _started < patience) return;  // the first handshakes are still under way
    _redial_at.resize(_options.cluster.brokers.size());
    for (const auto& b : _options.cluster.brokers) {
        if (b.rank == _me.rank || now - _peers.heard_at(b.rank) < patience || now < _redial_at[b.rank]) continue;
        _redial_at[b.rank] = now + patience;
        _peer_links.redial(b.rank);
        spdlog::debug("security: dialled {} again: not heard for {} ms", b.name, patience.count());
    }
}

void broker::impl::reset_publish_port() {
    _publish_reset_due = false;
    try {
        if (!_publish_bound.empty()) _publisher.unbind(_publish_bound);
        _publish_bound.clear();
        _publisher.bind(_me.bind_endpoint(1));
        _publish_bound = _publisher.get(zmq::sockopt::last_endpoint);
        spdlog::info("security: the access list lost a key: reopened the publish port, so that every subscriber "
                     "reconnects and is judged again");
    } catch (const zmq::error_t& e) {
        // The old listener may still hold the port for a moment: try again at the next tick.
        _publish_reset_due = true;
        spdlog::debug("security: reopening the publish port {}: {} (retrying)", _me.bind_endpoint(1), e.what());
    }
}

}  // namespace starbus
