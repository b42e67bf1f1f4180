// File: test_content_gate.cpp
// A replica applies a file change only once its content is stored: changes
// wait in order behind missing content, only versions that will be current
// are fetched (a version replaced or removed by a change that already arrived
// never is), the longest applicable prefix is applied at once, a stale
// version is asked for again later, and a full snapshot waits for its files.
#include <catch2/catch.hpp>

#include <map>

#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>
#include <starbus/files/file_install.hpp>

#include "change_builders.hpp"
#include "content_gate.hpp"
#include "testutil.hpp"

using namespace starbus;
using namespace std::chrono_literals;
using starbus::test::erase;
using starbus::test::put;

namespace {

struct gate_fixture {
    starbus::test::temp_dir dir;
    local_replica replica{dir.path(), fsync_mode::never, 1000};
    file_store store{dir.path()};
    std::uint64_t ids = 0;
    content_gate gate{store, fetch_settings{}, [this] { return ++ids; }};
    std::map<std::string, std::string> contents;  // hash -> bytes the "server" holds
    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};

    change file_put(std::uint64_t seq, const std::string& path, const std::string& content) {
        const std::string hash = hash_bytes(content);
        contents[hash] = content;
        return starbus::test::file_put(1, seq, path, content.size(), hash, xxh128_bytes(content));
    }
    // The hashes the gate asks for now (answered or not).
    std::vector<fetch_order> orders() {
        std::vector<fetch_order> out;
        while (auto o = gate.next_order()) out.push_back(*o);
        return out;
    }
    // Serves the given orders and installs what completes, like the broker's reactor.
    void serve(const std::vector<fetch_order>& os) {
        for (const auto& o : os) {
            const std::string& c = contents.at(o.request.hash);
            const std::string data = c.substr(o.request.offset, o.request.length);
            gate.on_chunk({o.request.request_id, o.request.path, o.request.hash, o.request.offset,
                           chunk_checksum(data.data(), data.size()), data});
        }
        for (auto& f : gate.take_fetched()) {
            REQUIRE(store.prepare_directory(f.entry.hash, nullptr));
            std::vector<install_job> jobs;
            jobs.push_back(install_job{0, std::move(f.fd), f.temp_path, store.object_path(f.entry.hash)});
            auto r = install_files(std::move(jobs), false);
            REQUIRE(r[0].ok);
            store.installed(f.entry.hash, f.entry.size);
            gate.installed(f.entry.hash, true, {}, now);
        }
    }
    void add(const change& c) { REQUIRE(gate.add(c, replica.last())); }
};

std::set<std::string> hashes_of(const std::vector<fetch_order>& os) {
    std::set<std::string> out;
    for (const auto& o : os) out.insert(o.request.hash);
    return out;
}

}  // namespace

TEST_CASE("files: changes wait in order behind a file whose content is missing") {
    gate_fixture f;
    f.add(put(1, 1, "k1", "v"));
    const change p = f.file_put(2, "docs/a", "content of a");
    f.add(p);
    f.add(put(1, 3, "k2", "v"));
    CHECK(f.gate.pump(f.replica, f.now));
    CHECK(f.replica.last().seq == 1);  // k1 only: the file change needs its content first
    CHECK(f.gate.waiting_changes() == 2);
    CHECK(f.gate.pending_files() == 1);
    auto os = f.orders();
    REQUIRE(hashes_of(os) == std::set<std::string>{file_entry_of(p)->hash});
    f.serve(os);
    CHECK(f.gate.pump(f.replica, f.now));
    CHECK(f.replica.last().seq == 3);
    REQUIRE(f.replica.state().files().find("docs/a"));
    CHECK(f.gate.idle());
}

TEST_CASE("files: a version replaced or removed by a change already received is never fetched") {
    gate_fixture f;
    f.add(f.file_put(1, "p", "version one"));
    const change v2 = f.file_put(2, "p", "version two");
    f.add(v2);
    f.add(f.file_put(3, "q", "short-lived"));
    f.add(erase(1, 4, "unrelated"));
    change rm = starbus::test::file_erase(1, 5, "q");
    f.add(rm);
    CHECK_FALSE(f.gate.pump(f.replica, f.now));  // p's current version is missing: nothing may be applied yet
    auto os = f.orders();
    CHECK(hashes_of(os) == std::set<std::string>{file_entry_of(v2)->hash});  // not version one, not q
    f.serve(os);
    CHECK(f.gate.pump(f.replica, f.now));
    CHECK(f.replica.last().seq == 5);  // all five at once: no state that lists a file without content
    CHECK(f.replica.state().files().find("p")->hash == file_entry_of(v2)->hash);
    CHECK_FALSE(f.replica.state().files().find("q"));
}

TEST_CASE("files: a newer change for a file being fetched cancels that fetch") {
    gate_fixture f;
    f.add(f.file_put(1, "p", std::string(600000, 'x')));
    CHECK_FALSE(f.gate.pump(f.replica, f.now));
    auto first = f.orders();
    REQUIRE_FALSE(first.empty());
    const change v2 = f.file_put(2, "p", "small");
    f.add(v2);
    CHECK_FALSE(f.gate.pump(f.replica, f.now));
    auto second = f.orders();
    CHECK(hashes_of(second) == std::set<std::string>{file_entry_of(v2)->hash});
    f.serve(second);
    CHECK(f.gate.pump(f.replica, f.now));
    CHECK(f.replica.last().seq == 2);
}

TEST_CASE("files: a version the server no longer holds is asked for again after a pause") {
    gate_fixture f;
    const change p = f.file_put(1, "p", "abc");
    f.add(p);
    CHECK_FALSE(f.gate.pump(f.replica, f.now));
    auto os = f.orders();
    REQUIRE(os.size() == 1);
    CHECK(f.gate.on_error(os[0].request.request_id, error_code::stale_version, "gone", f.now));
    CHECK_FALSE(f.gate.on_error(999999, error_code::stale_version, "not ours", f.now));
    CHECK_FALSE(f.gate.pump(f.replica, f.now));
    CHECK(f.orders().empty());  // not at once: the change that replaced it is probably on its way
    CHECK_FALSE(f.gate.pump(f.replica, f.now + 1s));
    auto again = f.orders();
    REQUIRE(again.size() == 1);
    f.serve(again);
    CHECK(f.gate.pump(f.replica, f.now + 1s));
    CHECK(f.replica.last().seq == 1);
}

TEST_CASE("files: a full snapshot waits until the content of every file it lists is stored") {
    gate_fixture f;
    const change a = f.file_put(7, "a", "A"), b = f.file_put(8, "b", "BB");
    f.gate.set_snapshot({put(1, 3, "k", "v"), a, b}, {1, 9}, {});
    f.add(put(1, 10, "after", "x"));
    CHECK_FALSE(f.gate.pump(f.replica, f.now));
    CHECK(f.gate.snapshot_waiting());
    CHECK(f.replica.last().seq == 0);
    f.serve(f.orders());
    CHECK(f.gate.pump(f.replica, f.now));
    CHECK(f.replica.last().seq == 10);
    CHECK(f.replica.state().files().size() == 2);
    CHECK(f.replica.state().find("k"));
    CHECK(f.gate.idle());
}

TEST_CASE("files: the gate refuses a change that does not follow what it received") {
    gate_fixture f;
    f.add(put(1, 1, "a", "1"));
    CHECK_FALSE(f.gate.add(put(1, 3, "c", "3"), f.replica.last()));  // seq 2 is missing: a gap
    CHECK(f.gate.add(put(1, 1, "a", "1"), f.replica.last()));        // already held: skipped
    CHECK(f.gate.waiting_changes() == 1);
    f.gate.new_session();
    CHECK(f.gate.waiting_changes() == 0);
}
