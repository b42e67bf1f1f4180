// File: test_file_service.cpp
// The file service without sockets: the manifest in pages, FETCH of a held
// version (a chunk frame) and of one not held (STALE_VERSION), FILE-PUT and
// FILE-RM through the write path's rules (a backup refuses them; content held
// already becomes a change at once; removing an absent file is acknowledged),
// and an upload over the limit refused before anything is received.
#include <catch2/catch.hpp>

#include <fstream>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "change_builders.hpp"
#include "fake_sink.hpp"
#include "file_service.hpp"
#include "testutil.hpp"

using namespace starbus;

namespace {

struct fixture {
    explicit fixture(std::uint32_t rank = 0) : cluster(builtin_cluster(3)), me(&cluster.brokers[rank]) {
        replica.set_epoch(5);
    }
    // Stores `content` as an object and lists it as `path` (the next change).
    file_entry add(const std::string& path, const std::string& content) {
        const std::string hash = hash_bytes(content);
        std::string why;
        REQUIRE(files.prepare_directory(hash, &why));
        std::ofstream(files.object_path(hash), std::ios::binary) << content;
        files.installed(hash, content.size());
        const std::uint64_t seq = replica.last().seq + 1;
        REQUIRE(replica.apply(test::file_put(5, seq, path, content.size(), hash, xxh128_bytes(content))));
        return *replica.state().files().find(path);
    }

    test::temp_dir dir;
    cluster_config cluster;
    const broker_info* me;
    local_replica replica{dir.path(), fsync_mode::never, 1000};
    file_store files{dir.path()};
    zmq::context_t ctx{1};
    follower replica_follower{ctx, me->name, me->rank, files, cluster.files, true};
    reconciler parted{ctx, dir.path(), files};
    test::fake_sink out;
    write_path writes{replica, out, cluster, *me};
    file_service service{files, replica, writes, replica_follower, parted, out, cluster, *me};
};

}  // namespace

TEST_CASE("file_service: the manifest in pages, and chunks of held versions only", "[file_service]") {
    fixture f;
    const file_entry a = f.add("a.txt", "alpha");
    f.add("b.txt", "bravo");
    file_list_request list;
    list.request_id = 3;
    list.limit = 1;
    f.service.on_list("c", list);
    auto pages = f.out.of<file_list_reply>();
    REQUIRE(pages.size() == 1);
    REQUIRE(pages[0].second.entries.size() == 1);
    REQUIRE(pages[0].second.entries[0].path == "a.txt");
    REQUIRE(pages[0].second.next == "b.txt");

    fetch_request fetch{9, "a.txt", a.hash, 1, 3};
    f.service.on_fetch("c", fetch);
    REQUIRE(f.out.frames.size() == 1);
    const zmq::message_t frame(f.out.frames[0].second.data(), f.out.frames[0].second.size());
    const auto chunk = decode_chunk_view(frame);
    REQUIRE(chunk);
    REQUIRE(chunk->request_id == 9);
    REQUIRE(std::string(chunk->data) == "lph");

    fetch.hash = std::string(64, 'f');
    f.service.on_fetch("c", fetch);
    REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::stale_version);
    fetch.hash = a.hash;
    fetch.offset = 4;  // 4 + 3 > 5 bytes
    f.service.on_fetch("c", fetch);
    REQUIRE(f.out.of<error_reply>().at(1).second.code_value == error_code::bad_request);
}

TEST_CASE("file_service: FILE-PUT and FILE-RM follow the write path's rules", "[file_service]") {
    const write_conditions serving{true, 1};
    SECTION("content held already: the change is applied at once and waits for its commit") {
        fixture f;
        const file_entry a = f.add("a.txt", "alpha");
        file_put_request put{7, 1, "copy.txt", a.size, a.hash, a.xxh};
        f.service.on_put("c", put, serving, {});
        REQUIRE(f.replica.state().files().find("copy.txt"));
        REQUIRE(f.service.uploads() == 0);
        REQUIRE(f.out.replies.empty());
    }
    SECTION("removing an absent file is acknowledged without a change") {
        fixture f;
        f.service.on_remove("c", file_remove_request{4, 1, "nothing.txt"}, serving);
        f.writes.flush_immediate_acks();
        REQUIRE(f.out.of<ack_reply>().size() == 1);
        REQUIRE(f.replica.last().seq == 0);
    }
    SECTION("over the cluster's size limit: TOO_LARGE, nothing received") {
        fixture f;
        f.cluster.files.max_file_bytes = 10;
        f.service.on_put("c", file_put_request{5, 1, "big", 11, std::string(64, 'a'), std::string(32, 'b')},
                         serving, {});
        REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::too_large);
        REQUIRE(f.service.uploads() == 0);
    }
    SECTION("new content starts an upload: the client is asked for it") {
        fixture f;
        f.service.on_put("c", file_put_request{5, 1, "new", 4, hash_bytes("data"), xxh128_bytes("data")},
                         serving, {});
        REQUIRE(f.service.uploads() == 1);
        f.service.send_upload_orders();
        REQUIRE(f.out.of<fetch_request>().size() == 1);
        f.service.stop_serving();
        REQUIRE(f.service.uploads() == 0);
    }
    SECTION("a backup refuses file changes: they are configuration changes") {
        fixture f(1);
        f.service.on_remove("c", file_remove_request{4, 1, "x"}, serving);
        REQUIRE(f.out.of<error_reply>().at(0).second.code_value == error_code::config_refused);
    }
}
