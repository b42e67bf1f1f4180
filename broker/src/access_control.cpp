// File: access_control.cpp
#include "access_control.hpp"

#include <starbus/security/curve_sockets.hpp>

namespace starbus {

namespace {

// Calls f(key, change) for every access entry of `state`, in key order.
template <typename F>
void for_each_access_entry(const kv_state& state, F&& f) {
    const auto& entries = state.entries();
    for (auto it = entries.lower_bound(access_key_prefix);
         it != entries.end() && std::string_view(it->first).substr(0, access_key_prefix.size()) == access_key_prefix;
         ++it)
        f(it->first, it->second);
}

}  // namespace

access_list access_list::build(const cluster_config& cluster, const kv_state& state) {
    std::vector<std::pair<std::string_view, std::string_view>> replicated;
    for_each_access_entry(state, [&](const std::string& key, const change& c) { replicated.emplace_back(key, c.value); });
    access_list out;
    out._entries = merge_access_list(cluster.security.clients, replicated);
    for (std::size_t i = 0; i < out._entries.size(); ++i) out._by_key.emplace(out._entries[i].public_key, i);
    out._built_from = mark_of(state);
    return out;
}

access_list::source_mark access_list::mark_of(const kv_state& state) {
    source_mark m;
    for_each_access_entry(state, [&](const std::string&, const change& c) {
        ++m.count;
        const position p{c.epoch, c.seq};
        if (p.seq > m.latest.seq || (p.seq == m.latest.seq && p.epoch > m.latest.epoch)) m.latest = p;
    });
    return m;
}

const access_list_entry* access_list::by_key(std::string_view public_key) const {
    auto it = _by_key.find(public_key);
    return it == _by_key.end() ? nullptr : &_entries[it->second];
}

bool access_list::narrows(const access_list& before) const {
    for (const auto& e : before._entries) {
        const access_list_entry* now = by_key(e.public_key);
        if (!now || now->role < e.role) return true;
    }
    return false;
}

peer_identity identify(const cluster_config& cluster, const access_list& access, std::string_view public_key) {
    peer_identity who;
    if (!cluster.curve()) return who;

    if (const broker_info* b = cluster.find_by_key(public_key)) {
        who.what = peer_identity::kind::broker;
        who.name = b->name;
        return who;
    }
    if (const access_list_entry* e = access.by_key(public_key)) {
        who.what = peer_identity::kind::client;
        who.name = e->name;
        who.role = e->role;
        return who;
    }
    who.what = peer_identity::kind::unknown;
    who.public_key = std::string(public_key);
    return who;
}

namespace {

struct need_of {
    request_need operator()(const set_request& r) const {
        const bool reserved = std::string_view(r.key).substr(0, reserved_key_prefix.size()) == reserved_key_prefix;
        if (reserved) return {permission::configure, "change the access list"};
        if (r.cls == change_class::config) return {permission::configure, "make configuration changes"};
        return {permission::operate, "make operational changes"};
    }
    request_need operator()(const publish_request&) const { return {permission::operate, "publish"}; }
    request_need operator()(const publish_many_request&) const { return {permission::operate, "publish"}; }
    request_need operator()(const file_put_request&) const { return {permission::configure, "put files"}; }
    request_need operator()(const file_remove_request&) const { return {permission::configure, "remove files"}; }
    request_need operator()(const force_request&) const { return {permission::configure, "force a broker to serve"}; }
    // A client's ERROR answers a FETCH of its own upload: only uploaders (admins) have one.
    request_need operator()(const error_reply&) const { return {permission::configure, "answer for an upload"}; }
    // An upload's chunk travels as FILE-CHUNK: the same.
    request_need operator()(const file_chunk&) const { return {permission::configure, "upload files"}; }
    request_need operator()(const repl_hello&) const { return {permission::broker, "replicate"}; }
    request_need operator()(const repl_ack&) const { return {permission::broker, "acknowledge replication"}; }
    request_need operator()(const handover_request&) const { return {permission::broker, "ask for a handover"}; }
    template <typename T>
    request_need operator()(const T&) const {
        return {permission::read, "read"};
    }
};

access_role role_for(permission p) {
    switch (p) {
        case permission::read: return access_role::reader;
        case permission::operate: return access_role::writer;
        default: return access_role::admin;
    }
}

std::string key_hint(std::string_view key) { return std::string(key.substr(0, 8)) + "…"; }

std::string text(std::string_view s) { return std::string(s); }

}  // namespace

request_need needed_for(const message& request) { return std::visit(need_of{}, request); }

request_need needed_for(const set_request& request) { return need_of{}(request); }

std::string_view to_string(permission p) {
    switch (p) {
        case permission::read: return "read";
        case permission::operate: return "operate";
        case permission::configure: return "configure";
        case permission::broker: return "broker";
    }
    return "unknown";
}

std::string refusal(const peer_identity& who, const request_need& need, std::string_view claimed_broker,
                    std::string_view me) {
    const permission p = need.p;
    using kind = peer_identity::kind;
    const std::string refused = "broker " + std::string(me) + " refused key ";
    switch (who.what) {
        case kind::anyone: return {};
        case kind::broker:
            if (p == permission::broker && !claimed_broker.empty() && claimed_broker != who.name)
                return refused + "of broker " + text(who.name) + ": it claims to be broker " + text(claimed_broker);
            return {};
        case kind::unknown:
            return refused + key_hint(who.public_key) +
                   ": it is not in the access list (revoked?); ask an admin to grant it with `starbus access grant`";
        case kind::client:
            if (p == permission::broker)
                return refused + text(who.name) + ": a client may not " + text(need.action) + " (only brokers may)";
            if (who.role < role_for(p))
                return refused + text(who.name) + ": role " + text(to_string(who.role)) + " may not " +
                       text(need.action);
            return {};
    }
    return refused + "(unknown kind)";
}

handshake_verdict judge_handshake(const cluster_config& cluster, const access_list& access, std::string_view domain,
                                  std::string_view public_key) {
    if (domain != zap_domain_requests && domain != zap_domain_publish && domain != zap_domain_heartbeat)
        return {false, "unknown ZAP domain \"" + std::string(domain) + "\""};
    if (cluster.find_by_key(public_key)) return {true, {}};
    if (domain == zap_domain_heartbeat)
        return {false, "the heartbeat port admits brokers only, and key " + key_hint(public_key) + " is no broker's"};
    if (access.by_key(public_key)) return {true, {}};
    return {false, "key " + key_hint(public_key) + " is not in the access list"};
}

}  // namespace starbus
