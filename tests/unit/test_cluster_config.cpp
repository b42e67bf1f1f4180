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
