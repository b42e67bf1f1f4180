// File: request_changes.cpp
// The change each write request makes (request_changes.hpp).
#include <starbus/wire/request_changes.hpp>

#include <starbus/wire/file_entry.hpp>

namespace starbus {

change change_for(const set_request& r) {
    change c;
    c.op = r.op;
    c.cls = r.cls;
    c.key = r.key;
    if (r.op == change_op::put) c.value = r.value;
    c.client_id = r.client_id;
    c.request_id = r.request_id;
    return c;
}

change change_for(const publish_request& r, std::uint64_t time_ms) { return change_for(publish_view_of(r), time_ms); }

change change_for(const publish_view& r, std::uint64_t time_ms) {
    change c;
    c.op = change_op::publish;
    c.cls = change_class::operational;
    c.key = r.topic;
    c.value = r.payload;
    c.client_id = r.client_id;
    c.request_id = r.request_id;
    c.time_ms = time_ms;
    return c;
}

change change_for(const file_put_request& r) {
    change c = file_put_change(file_entry{r.path, r.size, r.hash, 0, 0, r.xxh});
    c.client_id = r.client_id;
    c.request_id = r.request_id;
    return c;
}

change change_for(const file_remove_request& r) {
    change c;
    c.op = change_op::file_erase;
    c.cls = change_class::config;
    c.key = r.path;
    c.client_id = r.client_id;
    c.request_id = r.request_id;
    return c;
}

}  // namespace starbus
