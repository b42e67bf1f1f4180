// File: test_reconciler.cpp
// The orphans of a parted history: kept on disk across restarts, each once,
// handed to the broker when it serves (configuration changes only to the
// primary), and their file versions kept from collection; the largest orphans
// file a broker writes reads back.
#include <catch2/catch.hpp>

#include <fstream>

#include "change_builders.hpp"
#include "largest_values.hpp"
#include "reconciler.hpp"
#include "testutil.hpp"

using namespace starbus;
using starbus::test::put;

namespace {

change from_client(change c, std::uint64_t client, std::uint64_t request, change_class cls = change_class::operational) {
    c.client_id = client;
    c.request_id = request;
    c.cls = cls;
    return c;
}

}  // namespace

TEST_CASE("reconcile: orphans survive a restart, each once, in order") {
    starbus::test::temp_dir dir;
    zmq::context_t ctx;
    file_store store(dir.path());
    const std::string hash(64, 'f');
    {
        reconciler r(ctx, dir.path(), store);
        CHECK(r.empty());
        r.adopt({from_client(put(256, 5, "a", "1"), 7, 1), from_client(put(256, 6, "b", "2"), 7, 2),
                 put(256, 7, "internal", "nobody waits"),  // client id 0: dropped
                 from_client(put(256, 8, "cfg", "3"), 8, 1, change_class::config),
                 from_client(starbus::test::file_put(256, 9, "f", 10, hash), 8, 2, change_class::config)});
        r.adopt({from_client(put(256, 5, "a", "1"), 7, 1)});  // the same request again: kept once
        CHECK(r.size() == 4);
        CHECK(r.hashes() == std::vector<std::string>{hash});
        CHECK(r.describe().find("replaying 4 changes") != std::string::npos);
    }
    reconciler again(ctx, dir.path(), store);
    REQUIRE(again.size() == 4);
    // A backup that serves applies the operational ones; the configuration ones wait for the primary.
    auto as_backup = again.take_for_server(false);
    REQUIRE(as_backup.size() == 2);
    CHECK(as_backup[0].key == "a");
    CHECK(as_backup[1].key == "b");
    CHECK(again.size() == 2);
    again.flush();  // the broker's log holds a and b now
    reconciler later(ctx, dir.path(), store);
    REQUIRE(later.size() == 2);
    auto as_primary = later.take_for_server(true);
    REQUIRE(as_primary.size() == 2);
    CHECK(as_primary[0].key == "cfg");
    CHECK(as_primary[1].op == change_op::file_put);
    later.flush();
    CHECK_FALSE(std::filesystem::exists(dir.path() / "orphans"));  // nothing left: no file
}

TEST_CASE("reconcile: an unreadable orphans file is reported, never fatal") {
    starbus::test::temp_dir dir;
    zmq::context_t ctx;
    file_store store(dir.path());
    std::ofstream(dir.path() / "orphans") << "garbage";
    reconciler r(ctx, dir.path(), store);
    CHECK(r.empty());
}

// The orphans of one fork are the broker's history after it (change_history, broker_options::history_capacity:
// 100,000 changes by default), each as large as a change may be: the file must read back whole.
TEST_CASE("reconcile: the largest orphans file a broker writes reads back") {
    constexpr std::size_t history_capacity = 100000;
    starbus::test::temp_dir dir;
    zmq::context_t ctx;
    file_store store(dir.path());
    std::vector<change> orphans;
    for (std::uint64_t i = 1; i <= history_capacity; ++i)
        orphans.push_back(from_client(put(test::widest, i, test::numbered("k", i % 1000), "v"), test::widest - i, i));
    orphans.push_back(from_client(put(test::widest, history_capacity + 1, test::largest_key(), test::largest_value()),
                                  test::widest, test::widest));
    orphans.push_back(from_client(starbus::test::file_put(test::widest, history_capacity + 2, test::longest_path(),
                                                          test::widest, std::string(64, 'f')),
                                  test::widest, test::widest - 1, change_class::config));
    {
        reconciler r(ctx, dir.path(), store);
        r.adopt(orphans);
        REQUIRE(r.size() == orphans.size());
    }
    reconciler again(ctx, dir.path(), store);
    REQUIRE(again.size() == orphans.size());
    auto config = again.take_for_server(true);
    REQUIRE(config.size() == orphans.size());
    CHECK(config == orphans);
}
