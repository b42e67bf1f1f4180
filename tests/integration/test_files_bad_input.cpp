// File: test_files_bad_input.cpp
// Hostile and broken file requests against a real broker: path tricks,
// unknown versions, oversized chunks and files, broken chunk frames and bad
// local files all get an error that names what was wrong, and the broker
// keeps serving with its stored files intact. A full disk refuses a put with
// a clear error and keeps the previous version (root only: a small tmpfs).
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <fstream>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

#include "cluster_harness.hpp"
#include "raw_peer.hpp"

using namespace std::chrono_literals;
using starbus::test::ask;
using starbus::test::endpoint_of;
using starbus::test::error_of;
using starbus::test::test_cluster;
namespace fs = std::filesystem;

namespace {

std::string text_of(const std::optional<starbus::message>& m) {
    const auto* e = m ? std::get_if<starbus::error_reply>(&*m) : nullptr;
    return e ? e->text : std::string{};
}

}  // namespace

TEST_CASE("bad input: hostile file requests get an error reply and stored files stay intact", "[integration]") {
    test_cluster c(1, 50, "[files]\nmax_file_bytes = 100000\n");
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    const fs::path good = c.directory() / "good.txt";
    std::ofstream(good) << "kept";
    REQUIRE(c.cli({"put", good.string(), "kept.txt"}).exit_code == 0);
    const std::string kept_hash = starbus::hash_bytes("kept");

    // The command line refuses bad paths and bad local files before anything is sent.
    for (const char* remote : {"../escape", "/etc/passwd", "a/../../b", ".starbus-mirror", "dir/", "c:\\\\x"}) {
        INFO("remote " << remote);
        auto r = c.cli({"put", good.string(), remote});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("refused") != std::string::npos);
    }
    CHECK(c.cli({"put", (c.directory() / "missing").string(), "x"}).exit_code == 2);
    CHECK(c.cli({"put", c.directory().string(), "x"}).exit_code == 2);  // a directory
    const fs::path big = c.directory() / "big";
    fs::resize_file((std::ofstream(big).put('x'), big), 200000);
    auto too_big = c.cli({"put", big.string(), "big"});
    CHECK(too_big.exit_code == 2);
    CHECK(too_big.err.find("max_file_bytes") != std::string::npos);

    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint_of(c.cluster_file()));
    const std::string hash(64, 'a'), xxh(32, 'b');
    // A path must arrive canonical: the broker never guesses which spelling was meant.
    auto non_canonical = ask(s, starbus::encode(starbus::file_put_request{1, 9, "a//b", 4, hash, xxh}));
    CHECK(error_of(non_canonical) == starbus::error_code::bad_request);
    CHECK(text_of(non_canonical).find("send \"a/b\"") != std::string::npos);
    CHECK(error_of(ask(s, starbus::encode(starbus::file_put_request{2, 9, "../x", 4, hash, xxh}))) ==
          starbus::error_code::bad_request);
    CHECK(error_of(ask(s, starbus::encode(starbus::file_remove_request{3, 9, "/abs"}))) ==
          starbus::error_code::bad_request);
    // A file over the cluster's limit, announced by a client that does not check it itself.
    auto over = ask(s, starbus::encode(starbus::file_put_request{4, 9, "huge", 1u << 30, hash, xxh}));
    CHECK(error_of(over) == starbus::error_code::too_large);
    CHECK(text_of(over).find("max_file_bytes") != std::string::npos);
    // A version nobody has; a chunk too large; a range outside the file.
    CHECK(error_of(ask(s, starbus::encode(starbus::fetch_request{5, "kept.txt", hash, 0, 1}))) ==
          starbus::error_code::stale_version);
    CHECK(error_of(ask(s, starbus::encode(starbus::fetch_request{6, "kept.txt", kept_hash, 0,
                                                                  starbus::limits::max_chunk_bytes + 1}))) ==
          starbus::error_code::too_large);
    CHECK(error_of(ask(s, starbus::encode(starbus::fetch_request{7, "kept.txt", kept_hash, 2, 10}))) ==
          starbus::error_code::bad_request);
    // A chunk frame cut short, and a listing cursor over the path limit.
    const starbus::file_chunk_view header{8, "kept.txt", kept_hash, 0, 0, {}};
    std::string chunk = starbus::encode_chunk_header(header, 0, 100);
    CHECK(error_of(ask(s, chunk)) == starbus::error_code::bad_request);
    CHECK(error_of(ask(s, starbus::encode(starbus::file_list_request{9, std::string(5000, 'p'), 10}))) ==
          starbus::error_code::too_large);
    // An answer to a FETCH nobody asked for is dropped, not applied (no reply comes: nothing to answer).
    auto stray = starbus::encode_chunk_frame(header, 4, [](char* d) -> std::optional<std::uint64_t> {
        std::memcpy(d, "evil", 4);
        return starbus::chunk_checksum(d, 4);
    });
    REQUIRE(stray);
    s.send(*stray, zmq::send_flags::none);

    // Still serving, with the stored file as it was.
    REQUIRE(c.running(0));
    const fs::path out = c.directory() / "out.txt";
    REQUIRE(c.cli({"fetch", "kept.txt", out.string()}).exit_code == 0);
    std::ifstream in(out);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == "kept");
    auto ls = c.cli({"ls"});
    CHECK(ls.out.rfind("kept.txt\t4\t" + kept_hash + "\t", 0) == 0);
    CHECK(std::count(ls.out.begin(), ls.out.end(), '\n') == 1);  // nothing else was stored
}

TEST_CASE("files: a full disk refuses a put with a clear error and keeps the previous version", "[integration]") {
    if (::geteuid() != 0) {
        WARN("skipped: mounting a small tmpfs for the broker's data directory needs root");
        return;
    }
    test_cluster c(1);
    // The broker's data directory on its own 96 MiB file system, unmounted whatever happens.
    const fs::path data = c.data_dir(0);
    fs::create_directories(data);
    REQUIRE(::mount("tmpfs", data.c_str(), "tmpfs", 0, "size=96m") == 0);
    struct unmount_at_exit {
        fs::path at;
        test_cluster& cluster;
        ~unmount_at_exit() {
            cluster.kill(0);
            ::umount2(at.c_str(), MNT_DETACH);
        }
    } guard{data, c};
    c.start_all();
    REQUIRE_WITH_LOGS(c, c.wait_role("A", "active", 15s));
    const fs::path v1 = c.directory() / "v1", v2 = c.directory() / "v2";
    std::ofstream(v1) << "version one";
    REQUIRE(c.cli({"put", v1.string(), "conf/app.cfg"}).exit_code == 0);
    fs::resize_file((std::ofstream(v2).put('2'), v2), 80u << 20);  // does not fit with the reserve
    auto r = c.cli({"put", v2.string(), "conf/app.cfg"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("free some space") != std::string::npos);
    CHECK(c.log_of(0).find("refused conf/app.cfg") != std::string::npos);
    // The previous version is intact and served.
    const fs::path out = c.directory() / "out";
    REQUIRE(c.cli({"fetch", "conf/app.cfg", out.string()}).exit_code == 0);
    std::ifstream in(out);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == "version one");
    CHECK(c.cli({"set", "still", "writes"}).exit_code == 0);
}
