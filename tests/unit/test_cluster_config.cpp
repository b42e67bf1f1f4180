// File: test_cluster_config.cpp
// The cluster file: defaults, derived ports, and a clear error for every
// kind of mistake an operator can make in it.
#include <catch2/catch.hpp>

#include <starbus/config/cluster_config.hpp>

using namespace starbus;

namespace {

std::string error_of(const std::string& text) {
    try {
        (void)parse_cluster(text, "cluster.toml");
    } catch (const config_error& e) {
        return e.what();
    }
    return "(no error)";
}

const char* two_brokers = R"(
[[broker]]
name = "A"
endpoint = "tcp://127.0.0.1:5670"
[[broker]]
name = "B"
endpoint = "tcp://backup.example:5670"
)";

}  // namespace

TEST_CASE("cluster_config: defaults, rank order and derived endpoints", "[config]") {
    cluster_config c = parse_cluster(two_brokers, "cluster.toml");
    REQUIRE(c.heartbeat.count() == 1000);
    REQUIRE(c.expiry.count() == 3000);
    REQUIRE(c.ack == ack_mode::replica);
    REQUIRE(c.fsync == fsync_mode::batch);
    REQUIRE(c.brokers.size() == 2);
    REQUIRE(c.primary().name == "A");
    REQUIRE(c.find("B")->rank == 1);
    REQUIRE(c.find("Z") == nullptr);
    const broker_info& a = c.brokers[0];
    REQUIRE(a.request_endpoint() == "tcp://127.0.0.1:5670");
    REQUIRE(a.publish_endpoint() == "tcp://127.0.0.1:5671");
    REQUIRE(a.heartbeat_endpoint() == "tcp://127.0.0.1:5672");
    REQUIRE(a.bind_endpoint(2) == "tcp://127.0.0.1:5672");
    REQUIRE(c.brokers[1].bind_endpoint(0) == "tcp://*:5670");  // a host name: bind every interface
}

TEST_CASE("cluster_config: settings", "[config]") {
    cluster_config c = parse_cluster(std::string("heartbeat_ms = 100\nack = \"all\"\nfsync = \"never\"\n") +
                                         two_brokers,
                                     "f");
    REQUIRE(c.heartbeat.count() == 100);
    REQUIRE(c.expiry.count() == 300);
    REQUIRE(c.ack == ack_mode::all);
    REQUIRE(c.fsync == fsync_mode::never);
    c = parse_cluster(std::string("heartbeat_ms = 100\nexpiry_ms = 1000\n") + two_brokers, "f");
    REQUIRE(c.expiry.count() == 1000);
}

TEST_CASE("cluster_config: every mistake gets an error that says what to fix", "[config]") {
    REQUIRE_THAT(error_of("[[broker]\n"), Catch::Contains("not valid TOML"));
    REQUIRE_THAT(error_of(""), Catch::Contains("no brokers"));
    REQUIRE_THAT(error_of(std::string("heartbeat_ms = \"x\"\n") + two_brokers), Catch::Contains("heartbeat_ms"));
    REQUIRE_THAT(error_of(std::string("heartbeat_ms = 1\n") + two_brokers), Catch::Contains("from 10 to 60000"));
    REQUIRE_THAT(error_of(std::string("expiry_ms = 10\n") + two_brokers), Catch::Contains("two heartbeats"));
    REQUIRE_THAT(error_of(std::string("ack = \"some\"\n") + two_brokers), Catch::Contains("ack must be"));
    REQUIRE_THAT(error_of(std::string("colour = 1\n") + two_brokers), Catch::Contains("unknown setting \"colour\""));
    REQUIRE_THAT(error_of("[[broker]]\nendpoint = \"tcp://h:1\"\n"), Catch::Contains("name is missing"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\n"), Catch::Contains("endpoint is missing"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A B\"\nendpoint = \"tcp://h:1\"\n"), Catch::Contains("may hold only"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"udp://h:1\"\n"), Catch::Contains("tcp://HOST:PORT"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:99999\"\n"), Catch::Contains("port"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"tcp://h\"\n"), Catch::Contains("HOST:PORT"));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:1\"\nweight = 3\n"),
                 Catch::Contains("unknown key \"weight\""));
    REQUIRE_THAT(error_of(std::string(two_brokers) + "[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:9\"\n"),
                 Catch::Contains("duplicate broker name \"A\""));
    REQUIRE_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:100\"\n"
                          "[[broker]]\nname = \"B\"\nendpoint = \"tcp://h:101\"\n"),
                 Catch::Contains("used by another broker"));
    REQUIRE_THROWS_AS(load_cluster_file("/nonexistent/cluster.toml"), config_error);
}

// Found by tests/fuzz/fuzz_cluster_file: a float out of int64_t's range was
// converted with an undefined cast (UBSan in scripts/sanitize.sh address).
TEST_CASE("cluster_config: a number of milliseconds written as a float is refused, however large", "[config]") {
    REQUIRE_THAT(error_of(std::string("expiry_ms = 5e33\n") + two_brokers), Catch::Contains("expiry_ms"));
    REQUIRE_THAT(error_of(std::string("heartbeat_ms = -9e40\n") + two_brokers), Catch::Contains("heartbeat_ms"));
    REQUIRE_THAT(error_of(std::string("heartbeat_ms = 100.0\n") + two_brokers), Catch::Contains("heartbeat_ms"));
}

TEST_CASE("cluster_config: the built-in cluster", "[config]") {
    cluster_config c = builtin_cluster(3);
    REQUIRE(c.brokers.size() == 3);
    REQUIRE(c.brokers[2].name == "C");
    REQUIRE(c.brokers[2].endpoint == "tcp://127.0.0.1:5690");
    REQUIRE(builtin_cluster(1).primary().endpoint == "tcp://127.0.0.1:5670");
}

TEST_CASE("cluster_config: the [files] table sets chunk size, credit and size limit, and checks them", "[config]") {
    cluster_config d = parse_cluster(two_brokers, "f");
    CHECK(d.files.chunk_bytes == 256 * 1024);
    CHECK(d.files.credit_bytes == 2 * 1024 * 1024);
    CHECK(d.files.max_file_bytes == std::uint64_t{64} << 30);
    cluster_config c = parse_cluster(
        std::string("[files]\nchunk_bytes = 65536\ncredit_bytes = 1_048_576\nmax_file_bytes = 1000\n") + two_brokers,
        "f");
    CHECK(c.files.chunk_bytes == 65536);
    CHECK(c.files.credit_bytes == 1048576);
    CHECK(c.files.max_file_bytes == 1000);
    REQUIRE_THAT(error_of(std::string("[files]\nchunk_bytes = 10\n") + two_brokers),
                 Catch::Contains("chunk_bytes must be a whole number of bytes from 4096"));
    REQUIRE_THAT(error_of(std::string("[files]\nchunk_bytes = 999999999\n") + two_brokers),
                 Catch::Contains("chunk_bytes"));
    REQUIRE_THAT(error_of(std::string("[files]\nchunk_bytes = 65536\ncredit_bytes = 8192\n") + two_brokers),
                 Catch::Contains("at least chunk_bytes"));
    REQUIRE_THAT(error_of(std::string("[files]\ncredit_bytes = \"lots\"\n") + two_brokers),
                 Catch::Contains("credit_bytes"));
    REQUIRE_THAT(error_of(std::string("[files]\nspeed = 1\n") + two_brokers),
                 Catch::Contains("unknown key \"speed\" in [files]"));
    REQUIRE_THAT(error_of(std::string("files = 3\n") + two_brokers), Catch::Contains("files must be a table"));
}

// docs/security.md: [security] mode, the brokers' public keys and the [[client]] tables (the initial access list).
namespace {

// Distinct valid Z85 keys: 40 times one letter or digit.
std::string key_of(char c) { return std::string(40, c); }

std::string broker_table(const std::string& name, int port, const std::string& key = {}) {
    std::string t = "[[broker]]\nname = \"" + name + "\"\nendpoint = \"tcp://127.0.0.1:" + std::to_string(port) +
                    "\"\n";
    if (!key.empty()) t += "public_key = \"" + key + "\"\n";
    return t;
}

std::string client_table(const std::string& name, const std::string& role, const std::string& key) {
    return "[[client]]\nname = \"" + name + "\"\nrole = \"" + role + "\"\npublic_key = \"" + key + "\"\n";
}

// Two brokers with keys 'A' and 'B', under [security] mode = "curve".
const std::string curve_pair = "[security]\nmode = \"curve\"\n" + broker_table("A", 5670, std::string(40, 'A')) +
                               broker_table("B", 5680, std::string(40, 'B'));

}  // namespace

TEST_CASE("cluster_config: security mode is none by default, curve on request", "[config][security]") {
    cluster_config plain = parse_cluster(two_brokers, "f");
    CHECK(plain.security.mode == security_mode::none);
    CHECK_FALSE(plain.curve());
    CHECK(plain.security.clients.empty());
    CHECK(plain.brokers[0].public_key.empty());
    CHECK(parse_cluster(std::string("[security]\nmode = \"none\"\n") + two_brokers, "f").security.mode ==
          security_mode::none);
    CHECK_FALSE(parse_cluster(std::string("[security]\n") + two_brokers, "f").curve());

    cluster_config c = parse_cluster(curve_pair, "f");
    CHECK(c.security.mode == security_mode::curve);
    CHECK(c.curve());
    CHECK(c.brokers[0].public_key == key_of('A'));
    CHECK(c.brokers[1].public_key == key_of('B'));
    // A broker may carry its key before the cluster turns CURVE on.
    CHECK(parse_cluster(broker_table("A", 5670, key_of('A')), "f").brokers[0].public_key == key_of('A'));
}

TEST_CASE("cluster_config: find_by_key names the broker of a key", "[config][security]") {
    cluster_config c = parse_cluster(curve_pair, "f");
    REQUIRE(c.find_by_key(key_of('A')) != nullptr);
    CHECK(c.find_by_key(key_of('A'))->name == "A");
    REQUIRE(c.find_by_key(key_of('B')) != nullptr);
    CHECK(c.find_by_key(key_of('B'))->name == "B");
    CHECK(c.find_by_key(key_of('C')) == nullptr);
    CHECK(c.find_by_key(key_of('A').substr(1)) == nullptr);
    // Without keys in the file, no key (not even the empty one) names a broker.
    cluster_config plain = parse_cluster(two_brokers, "f");
    CHECK(plain.find_by_key("") == nullptr);
    CHECK(plain.find_by_key(key_of('A')) == nullptr);
    CHECK(c.find_by_key("") == nullptr);
}

TEST_CASE("cluster_config: [security] and broker keys get an error that says what to fix", "[config][security]") {
    CHECK_THAT(error_of(std::string("[security]\nmode = \"tls\"\n") + two_brokers),
               Catch::Contains("[security] mode must be \"none\" or \"curve\""));
    CHECK_THAT(error_of(std::string("[security]\nmode = \"CURVE\"\n") + two_brokers), Catch::Contains("mode must be"));
    CHECK_THAT(error_of(std::string("[security]\nmode = 1\n") + two_brokers), Catch::Contains("mode must be"));
    CHECK_THAT(error_of(std::string("[security]\nmode = \"none\"\nzap = true\n") + two_brokers),
               Catch::Contains("unknown key \"zap\" in [security]"));
    CHECK_THAT(error_of(std::string("security = \"curve\"\n") + two_brokers),
               Catch::Contains("security must be a table"));

    // With curve, every broker needs its key: the error names the broker and the command that makes one.
    const std::string missing = error_of("[security]\nmode = \"curve\"\n" + broker_table("A", 5670, key_of('A')) +
                                         broker_table("B", 5680));
    CHECK_THAT(missing, Catch::Contains("broker B has no public_key") && Catch::Contains("starbus keygen B"));
    CHECK_THAT(error_of("[security]\nmode = \"curve\"\n" + broker_table("A", 5670)),
               Catch::Contains("broker A has no public_key"));

    const std::string bad_key = error_of(broker_table("A", 5670, key_of('A')) + broker_table("B", 5680, "tooshort"));
    CHECK_THAT(bad_key, Catch::Contains("(B): public_key must be a 40-character Z85") &&
                            Catch::Contains("starbus keygen B"));
    CHECK_THAT(error_of(broker_table("A", 5670, key_of('A') + "x")), Catch::Contains("public_key must be"));
    CHECK_THAT(error_of(broker_table("A", 5670, std::string(39, 'A') + ",")), Catch::Contains("public_key must be"));
    CHECK_THAT(error_of("[[broker]]\nname = \"A\"\nendpoint = \"tcp://h:1\"\npublic_key = 7\n"),
               Catch::Contains("public_key must be"));
    CHECK_THAT(error_of(broker_table("A", 5670, key_of('K')) + broker_table("B", 5680, key_of('K'))),
               Catch::Contains("broker B has the same public_key as another broker"));
}

TEST_CASE("cluster_config: [[client]] tables make the initial access list", "[config][security]") {
    cluster_config c = parse_cluster(curve_pair + client_table("ops", "admin", key_of('o')) +
                                         client_table("sensor-1", "writer", key_of('s')) +
                                         client_table("dash.board", "reader", key_of('d')),
                                     "f");
    REQUIRE(c.security.clients.size() == 3);
    CHECK(c.security.clients[0].name == "ops");  // file order
    CHECK(c.security.clients[0].role == access_role::admin);
    CHECK(c.security.clients[0].public_key == key_of('o'));
    CHECK(c.security.clients[1].name == "sensor-1");
    CHECK(c.security.clients[1].role == access_role::writer);
    CHECK(c.security.clients[2].role == access_role::reader);
    CHECK(c.find_by_key(key_of('o')) == nullptr);  // a client's key is no broker's
    // Clients may be listed with mode none too (nothing checks them until curve is on).
    CHECK(parse_cluster(two_brokers + client_table("ops", "admin", key_of('o')), "f").security.clients.size() == 1);
}

TEST_CASE("cluster_config: every [[client]] mistake gets an error that says what to fix", "[config][security]") {
    const std::string ok_key = key_of('c');
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", ok_key) + "colour = \"red\"\n"),
               Catch::Contains("client #1: unknown key \"colour\""));
    CHECK_THAT(error_of(curve_pair + "[[client]]\nrole = \"admin\"\npublic_key = \"" + ok_key + "\"\n"),
               Catch::Contains("client #1: name is missing"));
    CHECK_THAT(error_of(curve_pair + client_table("a b", "admin", ok_key)),
               Catch::Contains("name \"a b\" may hold only"));
    CHECK_THAT(error_of(curve_pair + client_table("", "admin", ok_key)), Catch::Contains("is empty"));
    CHECK_THAT(error_of(curve_pair + client_table("c", "root", ok_key)),
               Catch::Contains("client #1 (c): role must be \"reader\", \"writer\" or \"admin\""));
    CHECK_THAT(error_of(curve_pair + "[[client]]\nname = \"c\"\npublic_key = \"" + ok_key + "\"\n"),
               Catch::Contains("(c): role must be"));
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", "short")),
               Catch::Contains("client #1 (c): public_key must be a 40-character Z85") &&
                   Catch::Contains("starbus keygen c"));
    CHECK_THAT(error_of(curve_pair + "[[client]]\nname = \"c\"\nrole = \"admin\"\n"),
               Catch::Contains("public_key must be"));
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", ok_key) + client_table("c", "reader", key_of('d'))),
               Catch::Contains("client #2: duplicate client name \"c\""));
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", ok_key) + client_table("d", "reader", ok_key)),
               Catch::Contains("client #2 (d): this public_key is already another client's"));
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", key_of('B'))),
               Catch::Contains("client c has a broker's public_key"));
    CHECK_THAT(error_of("client = 3\n" + curve_pair), Catch::Contains("client must be a list of tables"));
    CHECK_THAT(error_of(curve_pair + "[client]\nname = \"c\"\n"), Catch::Contains("client must be a list of tables"));
}

// A public_key whose 5-character groups encode more than 32 bits ("#####" is 84 * (85^4 + ... + 1) > 2^32) has
// the right alphabet and length, but libzmq cannot decode it (zmq_setsockopt(ZMQ_CURVE_SERVERKEY) fails with
// EINVAL when a broker or client connects): the cluster file refuses it, naming the broker.
TEST_CASE("cluster_config: a public_key that is no Z85 encoding of 32 bytes is refused", "[config][security]") {
    const std::string undecodable(40, '#');
    CHECK_THAT(error_of("[security]\nmode = \"curve\"\n" + broker_table("A", 5670, undecodable)),
               Catch::Contains("public_key must be"));
    CHECK_THAT(error_of(curve_pair + client_table("c", "admin", undecodable)), Catch::Contains("public_key must be"));
}

TEST_CASE("cluster_config: a broker's http is HOST:PORT", "[config]") {
    const std::string broker = "[[broker]]\nname = \"A\"\nendpoint = \"tcp://127.0.0.1:5670\"\n";
    const cluster_config c = parse_cluster(broker + "http = \"127.0.0.1:8080\"\n", "f");
    CHECK(c.brokers.at(0).http == "127.0.0.1:8080");
    CHECK(parse_cluster(broker, "f").brokers.at(0).http.empty());
    for (const char* bad : {"8080", ":8080", "host:", "host:http", "host:70000"}) {
        INFO(bad);
        CHECK_THAT(error_of(broker + "http = \"" + bad + "\"\n"), Catch::Contains("http must be \"HOST:PORT\""));
    }
    CHECK_THAT(error_of(broker + "http = 8080\n"), Catch::Contains("http must be"));
}
