// File: fake_sink.hpp
// A broker_sink that records what a component sent, for unit tests of the
// broker's components without sockets. Replies are kept decoded (a frame that
// does not decode is a test failure in itself).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <starbus/wire/codec.hpp>

#include "broker_sink.hpp"

namespace starbus::test {

class fake_sink final : public broker_sink {
  public:
    struct sent {
        std::string identity;
        message body;
    };
    struct published {
        std::string topic;
        std::string body;
    };

    void reply(const std::string& identity, const message& m) override { replies.push_back({identity, m}); }
    void reply_frame(const std::string& identity, zmq::message_t&& frame) override {
        frames.emplace_back(identity, frame.to_string());
    }
    void reply_error(const std::string& identity, std::uint64_t request_id, error_code code,
                     std::string text) override {
        error_reply e;
        e.request_id = request_id;
        e.code_value = code;
        e.text = std::move(text);
        replies.push_back({identity, e});
    }
    void reply_not_serving(const std::string& identity, std::uint64_t request_id) override {
        not_serving.emplace_back(identity, request_id);
    }
    void publish(std::string_view topic_frame, std::string_view body) override {
        publications.push_back({std::string(topic_frame), std::string(body)});
    }
    void publish(std::string_view topic_frame, zmq::message_t&& body) override {
        publications.push_back({std::string(topic_frame), body.to_string()});
    }

    // The replies of type T, in order.
    template <typename T>
    [[nodiscard]] std::vector<std::pair<std::string, T>> of() const {
        std::vector<std::pair<std::string, T>> out;
        for (const auto& r : replies)
            if (const T* m = std::get_if<T>(&r.body)) out.emplace_back(r.identity, *m);
        // And those sent already encoded (reply_frame), such as BUS-BATCH.
        for (const auto& [identity, frame] : frames) {
            decode_result d = decode(frame.data(), frame.size());
            if (d.ok())
                if (const T* m = std::get_if<T>(&*d.value)) out.emplace_back(identity, *m);
        }
        return out;
    }
    void clear() {
        replies.clear();
        frames.clear();
        not_serving.clear();
        publications.clear();
    }

    std::vector<sent> replies;
    std::vector<std::pair<std::string, std::string>> frames;
    std::vector<std::pair<std::string, std::uint64_t>> not_serving;
    std::vector<published> publications;
};

}  // namespace starbus::test
