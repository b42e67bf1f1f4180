// File: names.cpp
// to_string() for every enum of the protocol, and the role mapping of states.
#include <starbus/wire/messages.hpp>

namespace starbus {

std::string_view to_string(change_class c) {
    switch (c) {
        case change_class::operational: return "operational";
        case change_class::config: return "config";
    }
    return "unknown";
}

std::string_view to_string(change_op o) {
    switch (o) {
        case change_op::put: return "put";
        case change_op::erase: return "erase";
        case change_op::file_put: return "file_put";
        case change_op::file_erase: return "file_erase";
        case change_op::publish: return "publish";
    }
    return "unknown";
}

std::string_view to_string(broker_state s) {
    switch (s) {
        case broker_state::starting: return "starting";
        case broker_state::stalled: return "stalled";
        case broker_state::syncing: return "syncing";
        case broker_state::passive: return "passive";
        case broker_state::active: return "active";
        case broker_state::handover: return "handover";
    }
    return "unknown";
}

std::string_view role_name(broker_state s) {
    switch (s) {
        case broker_state::active: return "active";
        // Handing over takes no writes: shown as passive, so that `status` never shows two active brokers.
        case broker_state::handover:
        case broker_state::passive: return "passive";
        default: return "syncing";
    }
}

bool is_synchronised(broker_state s) {
    return s == broker_state::passive || s == broker_state::active || s == broker_state::handover;
}

std::string_view to_string(error_code c) {
    switch (c) {
        case error_code::not_serving: return "NOT_SERVING";
        case error_code::config_refused: return "CONFIG_REFUSED";
        case error_code::bad_request: return "BAD_REQUEST";
        case error_code::too_large: return "TOO_LARGE";
        case error_code::unknown_command: return "UNKNOWN_COMMAND";
        case error_code::retry_later: return "RETRY_LATER";
        case error_code::bad_version: return "BAD_VERSION";
        case error_code::refused: return "REFUSED";
        case error_code::stale_version: return "STALE_VERSION";
        case error_code::storage_failed: return "STORAGE_FAILED";
        case error_code::not_authorised: return "NOT_AUTHORISED";
    }
    return "UNKNOWN_ERROR";
}

std::string_view to_string(command c) {
    switch (c) {
        case command::set_request: return "SET";
        case command::get_request: return "GET";
        case command::value_reply: return "VALUE";
        case command::snapshot_request: return "SNAPSHOT";
        case command::snapshot_part: return "SNAPSHOT-PART";
        case command::snapshot_end: return "SNAPSHOT-END";
        case command::publish_request: return "PUBLISH";
        case command::ack_reply: return "ACK";
        case command::error_reply: return "ERROR";
        case command::status_request: return "STATUS";
        case command::status_reply: return "STATUS-REPLY";
        case command::force_request: return "FORCE";
        case command::ping: return "PING";
        case command::pong: return "PONG";
        case command::repl_hello: return "REPL-HELLO";
        case command::change_batch: return "CHANGES";
        case command::repl_ack: return "REPL-ACK";
        case command::handover_request: return "HANDOVER";
        case command::handover_go: return "HANDOVER-GO";
        case command::heartbeat: return "HEARTBEAT";
        case command::file_list_request: return "FILE-LIST";
        case command::file_list_reply: return "FILE-MANIFEST";
        case command::fetch_request: return "FETCH";
        case command::file_chunk: return "CHUNK";
        case command::file_put_request: return "FILE-PUT";
        case command::file_remove_request: return "FILE-RM";
        case command::bus_fetch_request: return "BUS-FETCH";
        case command::bus_batch: return "BUS-BATCH";
        case command::publish_many_request: return "PUBLISH-MANY";
        case command::set_many_request: return "SET-MANY";
    }
    return "UNKNOWN";
}

}  // namespace starbus
