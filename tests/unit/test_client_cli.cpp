// File: test_client_cli.cpp
// The `starbus` tool's pure pieces: argument parsing and exit codes, the
// `set --stdin` line format, and the status and dump renderings. The tool's
// sources are compiled into this test directly (they are not a library).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <starbus/version.hpp>
#include <starbus/wire/codec.hpp>

#include "cli.hpp"

using namespace starbus;
using namespace starbus::cli;

namespace {

parsed_arguments parse(std::vector<std::string> args, const char* env = nullptr) {
    args.insert(args.begin(), "starbus");
    return parse_arguments(args, env);
}

}  // namespace

TEST_CASE("client: cli parses set, del, get and the global options") {
    auto p = parse({"--cluster", "c.toml", "--timeout-ms", "1500", "set", "--config", "k", "a value"});
    REQUIRE(p.run);
    CHECK(p.run->command == "set");
    CHECK(p.run->config);
    CHECK(p.run->key == "k");
    CHECK(p.run->value == "a value");
    CHECK(p.run->timeout == std::chrono::milliseconds(1500));
    CHECK(p.run->timeout_given);
    CHECK(p.run->cluster_file == "c.toml");

    auto d = parse({"--cluster", "c.toml", "del", "k"});
    REQUIRE(d.run);
    CHECK(d.run->command == "del");
    CHECK_FALSE(d.run->config);
    CHECK(d.run->timeout == std::chrono::milliseconds(5000));
    CHECK_FALSE(d.run->timeout_given);

    auto g = parse({"get", "k", "--cluster", "c.toml"});  // global options may follow the command
    REQUIRE(g.run);
    CHECK(g.run->cluster_file == "c.toml");
}

TEST_CASE("client: cli accepts empty and negative-looking values") {
    auto p = parse({"--cluster", "c.toml", "set", "k", ""});
    REQUIRE(p.run);
    CHECK(p.run->value.empty());
    auto n = parse({"--cluster", "c.toml", "set", "temp", "-5"});
    REQUIRE(n.run);
    CHECK(n.run->value == "-5");
}

TEST_CASE("client: cli parse errors exit 2 with one line on stderr, not CLI11's codes") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {},                                              // no command
             {"--cluster", "c.toml", "frobnicate"},            // unknown command
             {"--cluster", "c.toml", "set", "k"},              // missing VALUE
             {"--cluster", "c.toml", "set", "a", "b", "c"},    // extra argument
             {"--cluster", "c.toml", "set", "--stdin", "k", "v"},
             {"--cluster", "c.toml", "get"},
             {"--cluster", "c.toml", "get", ""},               // empty key
             {"--cluster", "c.toml", "--timeout-ms", "soon", "status"},
             {"--cluster", "c.toml", "sub", "t", "--count", "0"},
             {"--bogus", "status"},
         }) {
        auto p = parse(args);
        INFO(p.err);
        CHECK_FALSE(p.run);
        CHECK(p.exit == 2);
        CHECK(p.err.rfind("starbus: ", 0) == 0);
        CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
    }
}

TEST_CASE("client: cli takes the cluster file from --cluster, else STARBUS_CLUSTER, else the built-in broker") {
    auto p = parse({"status"});
    REQUIRE(p.run);
    CHECK(p.run->cluster_file.empty());  // the built-in single broker A on tcp://127.0.0.1:5670
    auto e = parse({"status"}, "/etc/starbus/cluster.toml");
    REQUIRE(e.run);
    CHECK(e.run->cluster_file == "/etc/starbus/cluster.toml");
    auto both = parse({"--cluster", "mine.toml", "status"}, "/etc/starbus/cluster.toml");
    REQUIRE(both.run);
    CHECK(both.run->cluster_file == "mine.toml");
}

TEST_CASE("client: cli help exits 0 on stdout") {
    auto p = parse({"--help"});
    CHECK_FALSE(p.run);
    CHECK(p.exit == 0);
    CHECK(p.out.find("status") != std::string::npos);
    CHECK(p.err.empty());
    auto s = parse({"set", "--help"});
    CHECK(s.exit == 0);
    CHECK(s.out.find("--stdin") != std::string::npos);
}

TEST_CASE("client: cli --version prints one line and exits 0 without a cluster file or a command") {
    const std::string expected = version_line("starbus") + "\n";
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--version"},
             {"--cluster", "missing.toml", "--version"},
             {"status", "--version"},
         }) {
        auto p = parse(args);
        INFO(p.err);
        CHECK_FALSE(p.run);
        CHECK(p.exit == 0);
        CHECK(p.err.empty());
        CHECK(p.out == expected);
    }
    // "starbus 0.1.0 (protocol 1, libzmq 4.3.4)": the release, the envelope's version, the libzmq it runs on.
    CHECK(expected.rfind("starbus " + std::string(release_version) + " (protocol " +
                             std::to_string(protocol_version) + ", libzmq " + libzmq_version(),
                         0) == 0);
    CHECK(std::count(expected.begin(), expected.end(), '\n') == 1);
    CHECK(parse({"--help"}).out.find("--version") != std::string::npos);
}

TEST_CASE("client: cli parses dump, sub, pub and force options") {
    auto d = parse({"--cluster", "c", "dump", "--json", "--from", "B"});
    REQUIRE(d.run);
    CHECK(d.run->json);
    CHECK(d.run->from == std::optional<std::string>("B"));
    auto s = parse({"--cluster", "c", "sub", "alarms.", "--count", "3"});
    REQUIRE(s.run);
    CHECK(s.run->topic == "alarms.");
    CHECK(s.run->count == std::optional<std::uint64_t>(3));
    CHECK(s.run->bus_start.start == starbus::bus_start::latest);  // the default
    auto resumed = parse({"--cluster", "c", "sub", "alarms.", "--from", "768:42", "--positions"});
    REQUIRE(resumed.run);
    CHECK(resumed.run->bus_start.start == starbus::bus_start::after);
    CHECK(resumed.run->bus_start.from == starbus::position{768, 42});
    CHECK(resumed.run->positions);
    auto oldest = parse({"--cluster", "c", "sub", "alarms.", "--from", "oldest"});
    REQUIRE(oldest.run);
    CHECK(oldest.run->bus_start.start == starbus::bus_start::oldest);
    for (const char* bad : {"newest", "768", "768:", ":42", "7a:1", "1:2:3", "-1:2", ""}) {
        INFO(bad);
        auto b = parse({"--cluster", "c", "sub", "alarms.", "--from", bad});
        CHECK_FALSE(b.run);
        CHECK(b.exit == 2);
    }
    auto all = parse({"--cluster", "c", "sub", ""});
    REQUIRE(all.run);
    CHECK(all.run->topic.empty());
    CHECK_FALSE(all.run->count);
    auto p = parse({"--cluster", "c", "pub", "alarms.boiler", "pressure high"});
    REQUIRE(p.run);
    CHECK(p.run->payload == "pressure high");
    auto f = parse({"--cluster", "c", "force", "B"});
    REQUIRE(f.run);
    CHECK(f.run->name == "B");
    auto in = parse({"--cluster", "c", "set", "--stdin", "--config"});
    REQUIRE(in.run);
    CHECK(in.run->from_stdin);
    CHECK(in.run->config);
}

TEST_CASE("client: cli exit codes follow the result status") {
    CHECK(exit_code_for(result_status::ok) == 0);
    CHECK(exit_code_for(result_status::invalid) == 2);
    CHECK(exit_code_for(result_status::refused) == 3);
    CHECK(exit_code_for(result_status::not_found) == 4);
    CHECK(exit_code_for(result_status::unreachable) == 5);
}

TEST_CASE("client: set --stdin lines split at the first space") {
    using kv = std::pair<std::string, std::string>;
    CHECK(parse_change_line("k v") == kv{"k", "v"});
    CHECK(parse_change_line("k two words") == kv{"k", "two words"});
    CHECK(parse_change_line("k ") == kv{"k", ""});
    CHECK(parse_change_line("k  lead") == kv{"k", " lead"});
    CHECK(parse_change_line("k v\r") == kv{"k", "v"});
    CHECK_FALSE(parse_change_line("novalue"));
    CHECK_FALSE(parse_change_line(" v"));
    CHECK_FALSE(parse_change_line(""));
}

TEST_CASE("client: status renders as an aligned table and as JSON") {
    broker_status a;
    a.name = "A";
    a.rank = 0;
    a.reachable = true;
    a.state = broker_state::active;
    a.role = "active";
    a.epoch = 3;
    a.seq = 1024;
    a.clients = 2;
    a.server = "A";
    broker_status b;
    b.name = "Bravo";
    b.rank = 1;
    b.role = "down";
    b.note = "no answer within 5000 ms";
    const std::string text = render_status_text({a, b});
    CHECK(text.rfind("NAME", 0) == 0);
    CHECK(std::count(text.begin(), text.end(), '\n') == 3);
    // Aligned: ROLE starts at the same column in every line.
    const auto header_role = text.find("ROLE");
    const auto line2 = text.find('\n') + 1;
    CHECK(text.find("active", line2) - line2 == header_role);

    auto j = nlohmann::json::parse(render_status_json({a, b}));
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 2);
    CHECK(j[0]["name"] == "A");
    CHECK(j[0]["rank"] == 0);
    CHECK(j[0]["role"] == "active");
    CHECK(j[0]["epoch"] == 3);
    CHECK(j[0]["seq"] == 1024);
    CHECK(j[0]["pending"] == 0);
    CHECK(j[0]["clients"] == 2);
    CHECK(j[0]["state"] == "active");
    CHECK(j[1]["role"] == "down");
    CHECK(j[1]["reachable"] == false);
}

TEST_CASE("client: status --json says which release, protocol and libzmq each broker runs") {
    broker_status a;
    a.name = "A";
    a.reachable = true;
    a.state = broker_state::active;
    a.role = "active";
    a.protocol = 1;
    a.release = "0.1.0";
    a.libzmq = "4.3.4";
    broker_status older = a;  // a broker whose STATUS-REPLY predates the fields
    older.name = "B";
    older.release.clear();
    older.libzmq.clear();
    broker_status down;
    down.name = "C";
    down.role = "down";
    auto j = nlohmann::json::parse(render_status_json({a, older, down}));
    REQUIRE(j.size() == 3);
    CHECK(j[0]["protocol"] == 1);
    CHECK(j[0]["release"] == "0.1.0");
    CHECK(j[0]["libzmq"] == "4.3.4");
    CHECK(j[1]["protocol"] == 1);
    CHECK(j[1]["release"] == "");
    CHECK(j[1]["libzmq"] == "");
    CHECK(j[2]["protocol"] == 0);
    CHECK(j[2]["release"] == "");
    // Every key of before is still there.
    for (const char* key : {"name", "rank", "role", "epoch", "seq", "pending", "pending_files", "pending_bytes",
                            "clients", "reachable", "state", "server", "note"})
        CHECK(j[0].contains(key));
    // The text table is unchanged: the versions are in the JSON only.
    CHECK(render_status_text({a}).find("0.1.0") == std::string::npos);
}

TEST_CASE("client: dump renders sorted KEY VALUE lines and JSON") {
    change z;
    z.key = "zeta";
    z.value = "last";
    z.seq = 1;
    change a;
    a.key = "alpha";
    a.value = "first one";
    a.cls = change_class::config;
    a.seq = 2;
    CHECK(render_dump_text({z, a}) == "alpha first one\nzeta last\n");
    dump_result d;
    d.position = {2, 2};
    d.entries = {z, a};
    d.entries.push_back(change{});
    d.entries.back().key = "bin";
    d.entries.back().value = std::string("\xff\xfe", 2);  // not UTF-8: must not throw
    auto j = nlohmann::json::parse(render_dump_json(d));
    CHECK(j["epoch"] == 2);
    CHECK(j["seq"] == 2);
    REQUIRE(j["entries"].size() == 3);
    CHECK(j["entries"][0]["key"] == "alpha");
    CHECK(j["entries"][0]["class"] == "config");
    CHECK(j["entries"][0]["seq"] == 2);
    CHECK(j["entries"][2]["key"] == "zeta");
    CHECK(j["entries"][2]["class"] == "operational");
    CHECK(j["entries"][2]["value"] == "last");
}

TEST_CASE("client: cli parses the file commands, with a progress deadline of 30 s by default") {
    auto put = parse({"--cluster", "c.toml", "put", "local.bin", "dir/remote.bin"});
    REQUIRE(put.run);
    CHECK(put.run->command == "put");
    CHECK(put.run->local == "local.bin");
    CHECK(put.run->remote == "dir/remote.bin");
    CHECK(put.run->timeout == std::chrono::milliseconds(30000));
    auto fetch = parse({"--timeout-ms", "900", "fetch", "--verify", "--no-fsync", "dir/remote.bin", "out"});
    REQUIRE(fetch.run);
    CHECK(fetch.run->remote == "dir/remote.bin");
    CHECK(fetch.run->local == "out");
    CHECK(fetch.run->verify);
    CHECK(fetch.run->no_fsync);
    CHECK(fetch.run->timeout == std::chrono::milliseconds(900));
    auto mirror = parse({"mirror", "--once", "--adopt", "/srv/files"});
    REQUIRE(mirror.run);
    CHECK(mirror.run->local == "/srv/files");
    CHECK(mirror.run->once);
    CHECK(mirror.run->adopt);
    auto ls = parse({"ls", "--json"});
    REQUIRE(ls.run);
    CHECK(ls.run->json);
    CHECK(ls.run->timeout == std::chrono::milliseconds(5000));
    auto rm = parse({"rm", "x"});
    REQUIRE(rm.run);
    CHECK(rm.run->remote == "x");
    CHECK(parse({"put", "only-one"}).exit == exit_usage);
    CHECK(parse({"fetch"}).exit == exit_usage);
    CHECK(parse({"mirror"}).exit == exit_usage);
}

TEST_CASE("client: cli lists files as tab-separated lines and as JSON") {
    const std::vector<file_entry> files = {
        {"a b/c.txt", 12, std::string(64, 'a'), 2, 30, std::string(32, 'b')},
        {"z", 0, std::string(64, 'c'), 1, 4, std::string(32, 'd')},
    };
    CHECK(render_files_text(files) == "a b/c.txt\t12\t" + std::string(64, 'a') + "\t2:30\nz\t0\t" +
                                          std::string(64, 'c') + "\t1:4\n");
    const auto j = nlohmann::json::parse(render_files_json(files));
    REQUIRE(j.size() == 2);
    CHECK(j[0]["path"] == "a b/c.txt");
    CHECK(j[0]["size"] == 12);
    CHECK(j[0]["hash"] == std::string(64, 'a'));
    CHECK(j[0]["xxh3"] == std::string(32, 'b'));
    CHECK(j[0]["position"]["epoch"] == 2);
    CHECK(j[0]["position"]["seq"] == 30);
    CHECK(j[1]["seq"] == 4);
    CHECK(render_files_text({}).empty());
    CHECK(nlohmann::json::parse(render_files_json({})).empty());
}

TEST_CASE("client: cli progress shows percentage, sizes, rate and ETA") {
    CHECK(human_bytes(512) == "512 B");
    CHECK(human_bytes(1536) == "1.5 KiB");
    CHECK(human_bytes(std::uint64_t{3} << 30) == "3.0 GiB");
    const std::string bar = render_progress("put x", 512ull << 20, 1024ull << 20, 256.0 * (1 << 20), true);
    CHECK(bar.find("[===============>") != std::string::npos);
    CHECK(bar.find(" 50%") != std::string::npos);
    CHECK(bar.find("512.0 MiB of 1.0 GiB") != std::string::npos);
    CHECK(bar.find("256.0 MiB/s") != std::string::npos);
    CHECK(bar.find("ETA 2 s") != std::string::npos);
    const std::string line = render_progress("fetch y", 10, 10, 5, false);
    CHECK(line.find('[') == std::string::npos);  // no bar in logs
    CHECK(line.find("100%") != std::string::npos);
    CHECK(line.find("ETA") == std::string::npos);  // done
}

TEST_CASE("client: cli takes the key file from --key, else STARBUS_KEY", "[security][cli]") {
    const auto with_env = [](std::vector<std::string> args, const char* env_key) {
        args.insert(args.begin(), "starbus");
        return parse_arguments(args, nullptr, env_key);
    };
    auto none = with_env({"status"}, nullptr);
    REQUIRE(none.run);
    CHECK(none.run->key_file.empty());
    auto given = with_env({"--key", "me.key", "status"}, nullptr);
    REQUIRE(given.run);
    CHECK(given.run->key_file == "me.key");
    auto after = with_env({"get", "k", "--key", "me.key"}, nullptr);  // a global option may follow the command
    REQUIRE(after.run);
    CHECK(after.run->key_file == "me.key");
    auto env = with_env({"status"}, "/etc/starbus/ops.key");
    REQUIRE(env.run);
    CHECK(env.run->key_file == "/etc/starbus/ops.key");
    auto empty_env = with_env({"status"}, "");
    REQUIRE(empty_env.run);
    CHECK(empty_env.run->key_file.empty());
    auto both = with_env({"--key", "mine.key", "status"}, "/etc/starbus/ops.key");
    REQUIRE(both.run);
    CHECK(both.run->key_file == "mine.key");
    // The two-argument form (as before security) still reads no key.
    auto old = parse({"status"}, "/etc/starbus/cluster.toml");
    REQUIRE(old.run);
    CHECK(old.run->key_file.empty());
    CHECK(old.run->cluster_file == "/etc/starbus/cluster.toml");
    CHECK(parse({"--key"}).exit == exit_usage);  // --key needs a FILE
}

TEST_CASE("client: cli parses keygen NAME with --dir and --force", "[security][cli]") {
    auto k = parse({"keygen", "writer-1"});
    REQUIRE(k.run);
    CHECK(k.run->command == "keygen");
    CHECK(k.run->name == "writer-1");
    CHECK(k.run->dir == ".");
    CHECK_FALSE(k.run->replace);
    auto d = parse({"keygen", "A", "--dir", "/etc/starbus/keys", "--force"});
    REQUIRE(d.run);
    CHECK(d.run->name == "A");
    CHECK(d.run->dir == "/etc/starbus/keys");
    CHECK(d.run->replace);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"keygen"},                        // no NAME
             {"keygen", "a b"},                 // not a name
             {"keygen", "../evil"},
             {"keygen", ""},
             {"keygen", std::string(65, 'n')},
             {"keygen", "a", "b"},              // extra argument
             {"keygen", "a", "--dir"},          // --dir needs DIR
         }) {
        INFO((args.size() > 1 ? args[1] : std::string("(none)")));
        auto p = parse(args);
        CHECK_FALSE(p.run);
        CHECK(p.exit == exit_usage);
        CHECK(p.err.rfind("starbus: ", 0) == 0);
        CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
    }
    CHECK_THAT(parse({"keygen", "a b"}).err, Catch::Contains("key name \"a b\""));
}

TEST_CASE("client: cli parses access grant, revoke and ls", "[security][cli]") {
    auto g = parse({"--cluster", "c.toml", "access", "grant", "writer-1", "writer", "keys/writer-1.pub"});
    REQUIRE(g.run);
    CHECK(g.run->command == "access");
    CHECK(g.run->access_action == "grant");
    CHECK(g.run->name == "writer-1");
    CHECK(g.run->role == "writer");
    CHECK(g.run->pub_file == "keys/writer-1.pub");
    CHECK(g.run->cluster_file == "c.toml");
    for (const char* role : {"reader", "admin"}) {
        auto r = parse({"access", "grant", "x", role, "x.pub"});
        REQUIRE(r.run);
        CHECK(r.run->role == role);
    }
    auto r = parse({"access", "revoke", "writer-1"});
    REQUIRE(r.run);
    CHECK(r.run->command == "access");
    CHECK(r.run->access_action == "revoke");
    CHECK(r.run->name == "writer-1");
    auto ls = parse({"access", "ls", "--json"});
    REQUIRE(ls.run);
    CHECK(ls.run->command == "access");  // not the file command ls
    CHECK(ls.run->access_action == "ls");
    CHECK(ls.run->json);
    auto plain = parse({"access", "ls", "--cluster", "c.toml"});
    REQUIRE(plain.run);
    CHECK_FALSE(plain.run->json);
    CHECK(plain.run->cluster_file == "c.toml");
    auto keyed = parse({"--key", "ops.key", "access", "revoke", "x"});
    REQUIRE(keyed.run);
    CHECK(keyed.run->key_file == "ops.key");

    for (const auto& args : std::vector<std::vector<std::string>>{
             {"access"},                                             // no action
             {"access", "frobnicate"},                               // unknown action
             {"access", "grant", "x", "root", "x.pub"},              // no such role
             {"access", "grant", "x", "Admin", "x.pub"},
             {"access", "grant", "x", "writer"},                     // no PUBFILE
             {"access", "grant", "a b", "writer", "x.pub"},          // not a name
             {"access", "grant", "", "writer", "x.pub"},
             {"access", "revoke"},                                   // no NAME
             {"access", "revoke", "../x"},
             {"access", "grant", "x", "writer", "x.pub", "extra"},
         }) {
        std::string line;
        for (const auto& a : args) line += a + " ";
        INFO(line);
        auto p = parse(args);
        CHECK_FALSE(p.run);
        CHECK(p.exit == exit_usage);
        CHECK(p.err.rfind("starbus: ", 0) == 0);
        CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
    }
}

TEST_CASE("client: cli exits 6 when not authorised", "[security][cli]") {
    CHECK(exit_code_for(result_status::not_authorised) == 6);
    CHECK(exit_not_authorised == 6);
    CHECK(exit_code_for(result_status::not_authorised) != exit_code_for(result_status::refused));
    CHECK(to_string(result_status::not_authorised) != to_string(result_status::refused));
}

TEST_CASE("client: cli lists the access list as tab-separated lines and as JSON", "[security][cli]") {
    const std::string ka(40, 'a'), kw(40, 'w');
    const std::vector<access_list_entry> list = {
        {"admin-1", access_role::admin, ka, true},
        {"writer-1", access_role::writer, kw, false},
    };
    CHECK(render_access_text(list) == "admin-1\tadmin\t" + ka + "\tfile\nwriter-1\twriter\t" + kw + "\tgranted\n");
    CHECK(render_access_text({}).empty());
    const auto j = nlohmann::json::parse(render_access_json(list));
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 2);
    CHECK(j[0]["name"] == "admin-1");
    CHECK(j[0]["role"] == "admin");
    CHECK(j[0]["public_key"] == ka);
    CHECK(j[0]["source"] == "file");
    CHECK(j[1]["role"] == "writer");
    CHECK(j[1]["source"] == "granted");
    CHECK(j[0].size() == 4);  // exactly name, role, public_key, source
    const auto none = nlohmann::json::parse(render_access_json({}));
    CHECK(none.is_array());
    CHECK(none.empty());
    const std::vector<access_list_entry> reader = {{"r", access_role::reader, ka, false}};
    CHECK(render_access_text(reader) == "r\treader\t" + ka + "\tgranted\n");
}
