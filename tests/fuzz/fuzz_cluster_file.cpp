// File: fuzz_cluster_file.cpp
// libFuzzer target for the cluster file parser (cluster_config.hpp): any text
// as cluster.toml. parse_cluster() must return or throw config_error (whose
// message names the file); any other exception escapes and libFuzzer reports
// it as a crash. An accepted file must satisfy what the brokers rely on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <starbus/config/cluster_config.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using starbus::fuzz::check;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    starbus::cluster_config cfg;
    try {
        cfg = starbus::parse_cluster(text, "fuzz");
    } catch (const starbus::config_error& e) {
        check(std::string_view(e.what()).find("fuzz") != std::string_view::npos,
              "a config_error names the file it is about");
        return 0;
    }
    check(!cfg.brokers.empty(), "an accepted cluster has a broker");
    check(cfg.expiry >= 2 * cfg.heartbeat, "expiry is at least two heartbeats");
    for (std::size_t i = 0; i < cfg.brokers.size(); ++i) {
        const auto& b = cfg.brokers[i];
        check(b.rank == i, "ranks follow the file order");
        check(!b.name.empty() && b.name.size() <= 64, "broker names are 1..64 bytes");
        check(b.port >= 1 && b.port <= 65533, "ports leave room for P+1 and P+2");
        check(cfg.find(b.name) == &b, "broker names are unique");
    }
    return 0;
}
