// File: access_control.hpp
// Who may do what (docs/protocol.md "Security"), as pure functions of the
// cluster file, the replicated access list and the request: no sockets. The
// reactor asks `judge_handshake` when libzmq's ZAP handler hands it a CURVE
// handshake, and `authorise` for every request, with the key the handshake
// proved (libzmq's User-Id metadata). Both read the access list as it is
// now, so a grant or a revocation applies to the next request, on
// connections already open too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <starbus/config/cluster_config.hpp>
#include <starbus/security/access_merge.hpp>
#include <starbus/state/kv_state.hpp>
#include <starbus/wire/messages.hpp>

namespace starbus {

// The effective access list (access_merge.hpp) of a replica's state, by key.
class access_list {
  public:
    [[nodiscard]] static access_list build(const cluster_config& cluster, const kv_state& state);
    [[nodiscard]] const access_list_entry* by_key(std::string_view public_key) const;
    // Live entries, by name.
    [[nodiscard]] const std::vector<access_list_entry>& entries() const { return _entries; }
    // Whether some key of `before` is missing here or holds a lesser role (so that open connections
    // holding it must be cut where no request is checked: the publish port).
    [[nodiscard]] bool narrows(const access_list& before) const;

    // What build() read of `state`: the number of access entries and the latest position among them. Any
    // change to them moves it (a put takes a new, higher position; an erase lowers the count), so a list
    // is rebuilt only when it differs (access entries change rarely; the state changes every batch).
    struct source_mark {
        std::size_t count = 0;
        position latest;
        friend bool operator==(const source_mark&, const source_mark&) = default;
    };
    [[nodiscard]] static source_mark mark_of(const kv_state& state);
    [[nodiscard]] const source_mark& built_from() const { return _built_from; }

  private:
    // Looked up by a view of the key (the request's User-Id), with no copy.
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    };
    std::vector<access_list_entry> _entries;
    std::unordered_map<std::string, std::size_t, key_hash, std::equal_to<>> _by_key;
    source_mark _built_from;
};

// Who sent a request, from the key its CURVE handshake proved.
struct peer_identity {
    enum class kind : std::uint8_t {
        anyone,   // security mode none: nobody is authenticated, everything is allowed (as before security)
        broker,   // a key of the cluster file's [[broker]] tables
        client,   // a key of the access list
        unknown,  // a key not (or no longer) known: it proved itself once, but has been revoked since
    };
    kind what = kind::anyone;
    // A view into the cluster file or the access list: valid while they are.
    std::string_view name;                 // the broker's or client's name
    access_role role = access_role::reader;  // clients
    std::string public_key;  // unknown keys only (the refusal names it); brokers and clients go by name
};
[[nodiscard]] peer_identity identify(const cluster_config& cluster, const access_list& access,
                                     std::string_view public_key);

// What a request needs.
enum class permission : std::uint8_t {
    read,       // reader: STATUS, PING, GET, SNAPSHOT, FILE-LIST, FETCH, BUS-FETCH
    operate,    // writer: operational SET, PUBLISH
    configure,  // admin: configuration SET (the access list too), FILE-PUT, FILE-RM, FORCE, an upload's ERROR
    broker,     // a broker's key: REPL-HELLO, REPL-ACK, HANDOVER
};
struct request_need {
    permission p = permission::read;
    std::string_view action;  // what the request does, for a refusal: "make configuration changes"
};
[[nodiscard]] request_need needed_for(const message& request);
// One SET's, as it would need alone (each SET of a SET-MANY is judged on its own).
[[nodiscard]] request_need needed_for(const set_request& request);
[[nodiscard]] std::string_view to_string(permission p);

// "" when `who` may send a request needing `p` (with `claimed_broker`, the broker name the request itself
// claims, for REPL-HELLO and HANDOVER), else the refusal's text, naming the refusing broker, the key and
// what is missing.
[[nodiscard]] std::string refusal(const peer_identity& who, const request_need& need,
                                  std::string_view claimed_broker, std::string_view me);

// ZAP (RFC 27): whether a CURVE handshake on port `domain` with `public_key` is accepted. On the heartbeat
// port only brokers are; on the request and publish ports brokers and every key of the access list. The
// User-Id given to an accepted connection is its public key, so that each request is judged by the list as
// it is when the request arrives.
struct handshake_verdict {
    bool accepted = false;
    std::string status_text;  // why not (logged; libzmq sends the client only the status code)
};
[[nodiscard]] handshake_verdict judge_handshake(const cluster_config& cluster, const access_list& access,
                                                std::string_view domain, std::string_view public_key);

}  // namespace starbus
