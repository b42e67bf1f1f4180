// File: broker_sink.hpp
// Everything a broker component may send, and nothing else: replies on the
// request port (by routing identity), frames on the publish port. The reactor
// implements it on its sockets; unit tests implement it with a recorder
// (tests/fake_sink.hpp), so that every component is tested without sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include <starbus/wire/messages.hpp>

namespace starbus {

class broker_sink {
  public:
    virtual ~broker_sink() = default;

    // One message to the peer with this routing identity (dropped when its queue is full: the peer retries).
    virtual void reply(const std::string& identity, const message& m) = 0;
    // A frame built already (file chunks are written straight into theirs).
    virtual void reply_frame(const std::string& identity, zmq::message_t&& frame) = 0;
    // An ERROR naming the server and the primary as this broker sees them.
    virtual void reply_error(const std::string& identity, std::uint64_t request_id, error_code code,
                             std::string text) = 0;
    // NOT_SERVING (or RETRY_LATER when a takeover or handover is under way), with the reason.
    virtual void reply_not_serving(const std::string& identity, std::uint64_t request_id) = 0;
    // Two frames on the publish port: a topic frame (its first bytes say what it is: "B" bus, "K" state) and
    // a body.
    virtual void publish(std::string_view topic_frame, std::string_view body) = 0;
    virtual void publish(std::string_view topic_frame, zmq::message_t&& body) = 0;
};

}  // namespace starbus
