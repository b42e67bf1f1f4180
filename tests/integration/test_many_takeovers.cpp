// File: test_many_takeovers.cpp
// Found by a 600 s chaos run: every takeover adds an epoch to the history, and
// a broker whose snapshot held more than 16 of them could not read it back, so
// two brokers of three never started again. Here a real cluster goes through
// dozens of takeovers, one broker resynchronises from scratch (writing a
// snapshot that holds every epoch), and then every broker is restarted: all
// must start, and agree.
#include <catch2/catch.hpp>

#include <filesystem>

#include <starbus/wire/types.hpp>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using starbus::test::test_cluster;
using starbus::test::wait_until;

namespace {

// A broker's replica as `starbus dump --json --from NAME` shows it: its position and its keys.
struct replica_view {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::map<std::string, std::string> keys;
    friend bool operator==(const replica_view&, const replica_view&) = default;
};

std::optional<replica_view> replica_of(test_cluster& c, const std::string& name) {
    auto r = c.cli({"dump", "--json", "--from", name}, 3000);
    if (r.exit_code != 0) return std::nullopt;
    try {
        const nlohmann::json doc = nlohmann::json::parse(r.out);
        replica_view v{doc.at("epoch").get<std::uint64_t>(), doc.at("seq").get<std::uint64_t>(), {}};
        for (const auto& e : doc.at("entries"))
            v.keys[e.at("key").get<std::string>()] = e.at("value").get<std::string>();
        return v;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The highest epoch broker `name` knows, from `starbus status --json` (0 when unknown).
std::uint64_t epoch_of(test_cluster& c, const std::string& name) {
    auto r = c.cli({"status", "--json"}, 1000);
    try {
        for (const auto& b : nlohmann::json::parse(r.out))
            if (b.at("name") == name) return b.at("epoch").get<std::uint64_t>();
    } catch (const std::exception&) {
    }
    return 0;
}

// One acknowledged change in the epoch of the broker that just took over: a history's epoch spans hold only
// epochs with changes in them, and these keys are what every broker must still hold at the end.
bool mark(test_cluster& c, int takeover) {
    return c.cli({"set", "takeover." + std::to_string(takeover), std::to_string(takeover)}, 3000).exit_code == 0;
}

}  // namespace

TEST_CASE("takeovers: after dozens of takeovers and a resync from scratch, every broker restarts and they agree",
          "[integration]") {
    // 40 takeovers: well past the 16 epochs the snapshot decoder once took (the bug needs 17), and what fits in
    // about 30-40 s on a loaded 2-core machine (each kill-and-failback cycle, two takeovers, takes 1-2 s there).
    // The unit tests (test_durable_store.cpp, test_kv_state.cpp) cover hundreds and limits::max_epoch_spans.
    constexpr int takeovers = 40;
    test_cluster c(3, 50);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 20s));

    int done = 0;
    while (done < takeovers) {
        // The server dies; its first backup takes over (a client's set is the vote it needs).
        c.kill(0);
        REQUIRE_WITH_LOGS(c, c.wait_role("B", "active", 15s));
        REQUIRE_WITH_LOGS(c, mark(c, ++done));
        // The primary comes back, resynchronises, and takes its role back: another takeover.
        c.start(0);
        REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 30s));
        REQUIRE_WITH_LOGS(c, mark(c, ++done));
    }
    // epoch = counter * 256 + rank, and each takeover raises the counter (types.hpp next_epoch).
    REQUIRE(epoch_of(c, "A") / starbus::epoch_stride >= static_cast<std::uint64_t>(takeovers));

    // What the error message advises for a broken data directory: move it aside and resync from the server.
    // C receives a full snapshot holding every epoch and writes it to disk.
    REQUIRE(c.stop(2) == std::optional<int>(0));
    std::filesystem::rename(c.data_dir(2), c.data_dir(2) + ".aside");
    c.start(2);
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    REQUIRE(std::filesystem::exists(std::filesystem::path(c.data_dir(2)) / "snapshot"));

    // Every broker restarts, crashed or stopped: each must read its own data directory back.
    c.kill(0);
    REQUIRE(c.stop(1) == std::optional<int>(0));
    c.kill(2);
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_settled("A", {"B", "C"}, 30s));
    for (std::size_t i = 0; i < 3; ++i) REQUIRE_WITH_LOGS(c, c.running(i));

    // They agree: the same position and the same keys, every takeover's key among them.
    std::optional<replica_view> a;
    const bool agree = wait_until(
        [&] {
            a = replica_of(c, "A");
            return a && replica_of(c, "B") == a && replica_of(c, "C") == a;
        },
        20s, 50ms);
    REQUIRE_WITH_LOGS(c, agree);
    for (int t = 1; t <= takeovers; ++t) {
        INFO("the key of takeover " << t);
        REQUIRE(a->keys.count("takeover." + std::to_string(t)) == 1);
    }
}
