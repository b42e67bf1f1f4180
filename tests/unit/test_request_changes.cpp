// File: test_request_changes.cpp
// One definition of a valid change for the server and its replicas
// (protocol.md "Valid changes"): over many generated requests, hostile ones
// included, every request decode() accepts makes a change (change_for) that
// check_change() accepts, that travels in CHANGES and decodes on the replica,
// and that the replica's state applies; every generated change that
// check_change() refuses is refused inside CHANGES too. Seeded: a failure
// names the case and replays.
#include <catch2/catch.hpp>

#include <random>

#include <starbus/wire/codec.hpp>
#include <starbus/files/file_manifest.hpp>
#include <starbus/state/kv_state.hpp>
#include <starbus/wire/request_changes.hpp>

using namespace starbus;

namespace {

// Strings a hostile or careless sender would try: empty, at and over the limits, path tricks, metadata.
class generator {
  public:
    explicit generator(std::uint64_t seed) : _rng(seed) {}

    std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(_rng); }

    std::string text() {
        static const std::vector<std::string> fixed{
            "",           "k",          "a/b/c.txt",     "../evil",     "/abs",        "a//b",
            "a/./b",      ".starbus/x", "dir/",          "con\ttrol",   "ok_name.bin", std::string(1024, 'p'),
            std::string(1025, 'p'),     std::string(32, 'x') + "/y",
        };
        const auto kind = pick(16);
        if (kind == 0) return std::string(pick(2) ? limits::max_value_bytes : limits::max_value_bytes + 1, 'v');
        if (kind < 7) return fixed[pick(fixed.size())];
        if (kind < 11) return file_meta_value();
        return random_bytes(pick(40));
    }

    std::string hex(std::size_t n) {
        static const char* digits = "0123456789abcdef";
        std::string out(n, '0');
        for (auto& ch : out) ch = digits[pick(16)];
        if (pick(8) == 0) out[0] = 'G';  // not hex
        if (pick(8) == 0) out.pop_back();
        return out;
    }

    std::string file_meta_value() { return encode_file_meta({pick(1u << 20), hex(64), hex(32)}); }

    std::string random_bytes(std::size_t n) {
        std::string out(n, '\0');
        for (auto& ch : out) ch = static_cast<char>(pick(256));
        return out;
    }

  private:
    std::mt19937_64 _rng;
};

// What a replica does with a change the server logged: decode it out of CHANGES and apply it.
void replica_applies(const change& logged, kv_state& replica) {
    const std::string frame = encode(change_batch{{logged}, logged.seq});
    const decode_result d = decode(frame.data(), frame.size());
    INFO("replica's decode: " << d.reason);
    REQUIRE(d.ok());
    const auto& batch = std::get<change_batch>(*d.value);
    REQUIRE(batch.changes.size() == 1);
    REQUIRE(replica.apply(batch.changes.front()));
}

}  // namespace

TEST_CASE("request_changes: whatever the server accepts, every replica applies", "[request_changes]") {
    generator g(20261203);
    kv_state replica;
    std::uint64_t seq = 0;
    std::size_t accepted = 0, refused = 0;
    for (int i = 0; i < 4000; ++i) {
        message request;
        switch (g.pick(4)) {
            case 0: {
                set_request r;
                r.request_id = i + 1;
                r.client_id = 7;
                r.op = static_cast<change_op>(g.pick(2) ? g.pick(2) : g.pick(256));
                r.cls = static_cast<change_class>(g.pick(2) ? g.pick(2) : g.pick(256));
                r.key = g.text();
                r.value = g.text();
                request = r;
                break;
            }
            case 1: request = publish_request{static_cast<std::uint64_t>(i + 1), 7, g.text(), g.text()}; break;
            case 2: request = file_put_request{static_cast<std::uint64_t>(i + 1), 7, g.text(), g.pick(1000), g.hex(64),
                                               g.hex(32)};
                break;
            default: request = file_remove_request{static_cast<std::uint64_t>(i + 1), 7, g.text()}; break;
        }
        const std::string frame = encode(request);
        const decode_result d = decode(frame.data(), frame.size());
        INFO("case " << i << ", command " << to_string(std::visit([](const auto& m) { return m.code; }, request)));
        if (!d.ok()) {
            // Refused before anything could be logged, with the documented codes.
            REQUIRE((d.error == error_code::bad_request || d.error == error_code::too_large));
            ++refused;
            continue;
        }
        change c = std::visit(
            [](const auto& m) -> change {
                using T = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<T, publish_request>) return change_for(m, 1764720000000);
                else if constexpr (std::is_same_v<T, set_request> || std::is_same_v<T, file_put_request> ||
                                   std::is_same_v<T, file_remove_request>)
                    return change_for(m);
                else return change{};
            },
            *d.value);
        c.epoch = 256;
        c.seq = ++seq;
        const field_verdict v = check_change(c);
        INFO("server's check: " << v.why);
        REQUIRE(v.ok());
        replica_applies(c, replica);
        ++accepted;
    }
    // Both sides of the property were exercised.
    CHECK(accepted > 500);
    CHECK(refused > 500);
    CHECK(replica.last().seq == seq);
}

TEST_CASE("request_changes: a change the rule refuses is refused inside CHANGES, SNAPSHOT-PART and BUS-BATCH",
          "[request_changes]") {
    generator g(7);
    std::size_t refused = 0;
    for (int i = 0; i < 3000; ++i) {
        change c;
        c.epoch = 256;
        c.seq = 1 + g.pick(100);
        c.op = static_cast<change_op>(g.pick(7));
        c.cls = static_cast<change_class>(g.pick(3));
        c.key = g.text();
        c.value = g.pick(3) ? g.text() : std::string{};
        const bool valid = check_change(c).ok();
        for (const message& m : {message{change_batch{{c}, 0}}, message{snapshot_part{1, {c}}}}) {
            const std::string frame = encode(m);
            INFO("case " << i << ": op " << static_cast<int>(c.op) << ", cls " << static_cast<int>(c.cls));
            REQUIRE(decode(frame.data(), frame.size()).ok() == valid);
        }
        refused += valid ? 0 : 1;
    }
    CHECK(refused > 1000);
}

TEST_CASE("request_changes: SET never makes a file or bus change", "[request_changes]") {
    // protocol.md SET: "op: 0 = put, 1 = erase. No other value is valid in a SET."
    for (int op = 2; op < 256; ++op) {
        set_request r{1, 7, static_cast<change_op>(op), change_class::config, "a/b", "v"};
        const std::string frame = encode(r);
        const decode_result d = decode(frame.data(), frame.size());
        REQUIRE_FALSE(d.ok());
        REQUIRE(d.error == error_code::bad_request);
    }
    // An erase carries no value, whatever the request sent.
    const change erase = change_for(set_request{1, 7, change_op::erase, change_class::operational, "k", "ignored"});
    CHECK(erase.value.empty());
}
