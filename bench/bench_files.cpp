// File: bench_files.cpp
// starbus-bench-files: file sync throughput and mirror resync, next to raw
// libzmq PUSH/PULL with the same chunk size measured in the same run.
//   large   one file (1 GiB by default) broker -> client: fetch_file, without
//           and with the final fsync; raw PUSH/PULL memory to memory, and
//           raw file to file (pread -> PUSH -> PULL -> pwrite, no hash, no fsync)
//   small   10,000 files of 4 KiB broker -> client: a mirror pass into an
//           empty directory; raw PUSH/PULL of as many 4 KiB messages
//   resync  a fresh mirror process on a synchronised mirror of those files
//           when nothing changed, and when 1 % of them changed
//   sweep   the large transfer for chunk sizes x credits (to choose defaults)
// The raw sender is a separate process (this binary with --serve-push), as
// the broker is. Repetitions interleave the variants; medians are reported.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <starbus/client/file_mirror.hpp>
#include <starbus/files/unique_fd.hpp>

#include "bench_support.hpp"

using namespace starbus;
using namespace starbus::bench;
using std::chrono::milliseconds;

namespace {

struct options {
    int reps = 5;
    std::uint64_t large_mib = 1024;
    std::size_t small_files = 10000;
    std::size_t small_bytes = 4096;
    std::string parts = "large,small,resync";
    std::string sweep_chunks = "65536,262144,1048576";
    std::string sweep_credits = "1,4,8,16";  // in chunks
    std::uint64_t sweep_mib = 256;
    std::string broker;
};

// ---- the raw sender (a helper process) ----

// Connects a PUSH to `endpoint` and sends `count` messages of `size` bytes,
// read from `from` (pread, in order) or from memory when `from` is empty.
int serve_push(const std::string& endpoint, std::uint64_t count, std::uint64_t size, const std::string& from) {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::push);
    s.set(zmq::sockopt::linger, 5000);
    s.set(zmq::sockopt::sndhwm, 16);
    s.connect(endpoint);
    std::vector<char> block(size, 'r');
    unique_fd fd;
    if (!from.empty()) fd.reset(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    for (std::uint64_t i = 0; i < count; ++i) {
        zmq::message_t m(size);
        if (fd) {
            if (::pread(fd.get(), m.data(), size, static_cast<off_t>(i * size)) < 0) return 1;
        } else {
            std::memcpy(m.data(), block.data(), size);
        }
        (void)s.send(m, zmq::send_flags::none);
    }
    return 0;
}

// Receives `count` messages from a fresh raw sender process; writes them to `to` (pwrite) unless empty.
// Returns seconds from the first message to the last.
double raw_transfer(std::uint64_t count, std::uint64_t size, const std::string& from, const std::string& to) {
    zmq::context_t ctx(1);
    zmq::socket_t pull(ctx, zmq::socket_type::pull);
    pull.set(zmq::sockopt::linger, 0);
    pull.set(zmq::sockopt::rcvhwm, 16);
    const std::string ep = "tcp://" + test::random_loopback_host() + ":" + std::to_string(test::random_base_port());
    pull.bind(ep);
    std::vector<std::string> argv = {self_path(), "--serve-push", "--endpoint", ep, "--count", std::to_string(count),
                                     "--size", std::to_string(size)};
    if (!from.empty()) argv.insert(argv.end(), {"--from", from});
    tracked_process sender(argv, "/dev/null");
    unique_fd out;
    if (!to.empty()) out.reset(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    zmq::message_t m;
    pull.set(zmq::sockopt::rcvtimeo, 30000);
    clock::time_point first{};
    for (std::uint64_t i = 0; i < count; ++i) {
        if (!pull.recv(m)) throw std::runtime_error("the raw sender stopped sending");
        if (i == 0) first = clock::now();
        if (out && ::pwrite(out.get(), m.data(), m.size(), static_cast<off_t>(i * size)) < 0)
            throw std::runtime_error("cannot write " + to);
    }
    return std::chrono::duration<double>(clock::now() - first).count() * static_cast<double>(count) /
           static_cast<double>(std::max<std::uint64_t>(1, count - 1));
}

// ---- helpers ----

void write_random(const std::filesystem::path& p, std::uint64_t bytes, unsigned seed) {
    std::filesystem::create_directories(p.parent_path());
    std::mt19937_64 rng(seed);
    std::vector<std::uint64_t> block(1 << 16);
    std::ofstream out(p, std::ios::binary);
    for (std::uint64_t done = 0; done < bytes;) {
        for (auto& w : block) w = rng();
        const auto n = std::min<std::uint64_t>(block.size() * 8, bytes - done);
        out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
        done += n;
    }
}

client_options options_for(const bench_cluster& c, std::uint64_t chunk = 0, std::uint64_t credit = 0,
                           bool mirror = false) {
    client_options o = c.options();
    if (chunk) o.cluster.files.chunk_bytes = chunk;
    if (credit) o.cluster.files.credit_bytes = credit;
    o.mirror_state = mirror;
    return o;
}

// Seconds to fetch `remote` into `to`.
double fetch_seconds(const bench_cluster& c, const std::string& remote, const std::filesystem::path& to, bool durable,
                     std::uint64_t chunk = 0, std::uint64_t credit = 0) {
    client cl(options_for(c, chunk, credit));
    transfer_options t;
    t.durable = durable;
    // Find the server first: the measure is the transfer, not the first contact.
    (void)cl.stat_file(remote, std::chrono::seconds(10));
    const auto start = clock::now();
    const result r = cl.fetch_file(remote, to, t);
    const double s = seconds_since(start);
    if (!r.ok()) throw std::runtime_error("fetch of " + remote + " failed: " + r.message);
    std::filesystem::remove(to);
    return s;
}

double mib_per_s(std::uint64_t bytes, double seconds) {
    return seconds > 0 ? static_cast<double>(bytes) / seconds / (1 << 20) : 0;
}

void put_or_throw(client& c, const std::filesystem::path& local, const std::string& remote) {
    transfer_options t;
    t.stall_timeout = std::chrono::seconds(60);
    const result r = c.put_file(local, remote, t);
    if (!r.ok()) throw std::runtime_error("put " + remote + " failed: " + r.message);
}

// One mirror pass of a fresh client (a mirror process starting): seconds and report.
std::pair<double, mirror_report> mirror_pass(const bench_cluster& c, const std::filesystem::path& dir, bool durable) {
    client cl(options_for(c, 0, 0, true));
    const auto start = clock::now();
    file_mirror m(cl, mirror_options{dir, false, durable});
    mirror_report r = m.sync(std::chrono::seconds(60));
    const double s = seconds_since(start);
    if (!r.outcome.ok()) throw std::runtime_error("mirror pass failed: " + r.outcome.message);
    return {s, r};
}

// ---- the parts ----

void bench_large(const options& o, bench_cluster& c, const std::filesystem::path& work) {
    const std::uint64_t bytes = o.large_mib << 20;
    const std::uint64_t chunk = c.config().files.chunk_bytes;
    const auto src = work / "large.bin", out = work / "large.out";
    write_random(src, bytes, 1);
    put_or_throw(c.probe(), src, "large.bin");
    std::map<std::string, std::vector<double>> rate;
    table runs({"rep", "variant", "seconds", "MiB/s"});
    const std::vector<std::string> variants = {"raw mem", "raw file", "starbus", "starbus+fsync"};
    for (int rep = 0; rep < o.reps; ++rep) {
        for (std::size_t k = 0; k < variants.size(); ++k) {
            const std::string& v = variants[(k + static_cast<std::size_t>(rep)) % variants.size()];
            double s = 0;
            if (v == "raw mem") s = raw_transfer(bytes / chunk, chunk, "", "");
            else if (v == "raw file") s = raw_transfer(bytes / chunk, chunk, src.string(), out.string());
            else s = fetch_seconds(c, "large.bin", out, v == "starbus+fsync");
            std::filesystem::remove(out);
            rate[v].push_back(mib_per_s(bytes, s));
            runs.add({std::to_string(rep + 1), v, fmt(s, 3), fmt(rate[v].back())});
        }
    }
    runs.print();
    const double raw = summarize(rate["raw mem"]).median, raw_file = summarize(rate["raw file"]).median;
    const double sb = summarize(rate["starbus"]).median, sbf = summarize(rate["starbus+fsync"]).median;
    std::cout << "files: large " << o.large_mib << " MiB, chunk " << chunk << ", credit " << c.config().files.credit_bytes
              << ": starbus " << fmt(sb) << " MiB/s = " << fmt(sb / raw, 2) << " x raw PUSH/PULL (" << fmt(raw)
              << " MiB/s), " << fmt(sb / raw_file, 2) << " x raw file-to-file (" << fmt(raw_file)
              << " MiB/s); with fsync " << fmt(sbf) << " MiB/s; target 0.60 x raw: "
              << (sb / raw >= 0.6 ? "met" : "missed") << "\n";
    std::filesystem::remove(src);
    (void)c.probe().remove_file("large.bin", std::chrono::seconds(10));  // the small-files parts count every file
}

void bench_small(const options& o, bench_cluster& c, const std::filesystem::path& work, bool keep_for_resync) {
    // The files go in once (setup, not measured).
    const auto src = work / "small-src";
    std::mt19937 rng(2);
    const auto setup = clock::now();
    for (std::size_t i = 0; i < o.small_files; ++i) {
        const std::string name = "small/" + std::to_string(i % 100) + "/f" + std::to_string(i);
        std::string content(o.small_bytes, '\0');
        for (auto& ch : content) ch = static_cast<char>(rng());
        std::filesystem::create_directories((src / name).parent_path());
        std::ofstream(src / name, std::ios::binary) << content;
        put_or_throw(c.probe(), src / name, name);
    }
    std::cout << "small: put " << o.small_files << " files of " << o.small_bytes << " bytes in " << fmt(seconds_since(setup), 1)
              << " s (setup)\n";
    std::map<std::string, std::vector<double>> rate;
    table runs({"rep", "variant", "seconds", "files/s", "MiB/s"});
    const std::vector<std::string> variants = {"raw mem", "starbus mirror", "starbus mirror+fsync"};
    const std::uint64_t bytes = static_cast<std::uint64_t>(o.small_files) * o.small_bytes;
    for (int rep = 0; rep < o.reps; ++rep) {
        for (std::size_t k = 0; k < variants.size(); ++k) {
            const std::string& v = variants[(k + static_cast<std::size_t>(rep)) % variants.size()];
            double s = 0;
            if (v == "raw mem") {
                s = raw_transfer(o.small_files, o.small_bytes, "", "");
            } else {
                const auto dir = work / ("mirror-" + std::to_string(rep) + "-" + std::to_string(k));
                auto [secs, report] = mirror_pass(c, dir, v == "starbus mirror+fsync");
                if (report.fetched != o.small_files)
                    throw std::runtime_error("the mirror fetched " + std::to_string(report.fetched) + " of " +
                                             std::to_string(o.small_files) + " files (" + std::to_string(report.files) +
                                             " held): " + report.outcome.message);
                s = secs;
                std::filesystem::remove_all(dir);
            }
            rate[v].push_back(static_cast<double>(o.small_files) / s);
            runs.add({std::to_string(rep + 1), v, fmt(s, 3), fmt(rate[v].back()), fmt(mib_per_s(bytes, s))});
        }
    }
    runs.print();
    const double raw = summarize(rate["raw mem"]).median, sb = summarize(rate["starbus mirror"]).median;
    std::cout << "files: small " << o.small_files << " x " << o.small_bytes << " B: starbus mirror " << fmt(sb)
              << " files/s = " << fmt(sb / raw, 2) << " x raw PUSH/PULL (" << fmt(raw) << " msgs/s); with fsync "
              << fmt(summarize(rate["starbus mirror+fsync"]).median) << " files/s\n";
    if (!keep_for_resync) std::filesystem::remove_all(src);
}

void bench_resync(const options& o, bench_cluster& c, const std::filesystem::path& work) {
    const auto dir = work / "resync-mirror";
    (void)mirror_pass(c, dir, false);  // a synchronised mirror to start from
    std::vector<double> unchanged, changed;
    table runs({"rep", "case", "seconds", "fetched", "re-read"});
    const std::size_t to_change = std::max<std::size_t>(1, o.small_files / 100);
    std::mt19937 rng(3);
    for (int rep = 0; rep < o.reps; ++rep) {
        auto [s0, r0] = mirror_pass(c, dir, false);
        if (r0.fetched != 0) throw std::runtime_error("an unchanged mirror fetched files");
        unchanged.push_back(s0);
        runs.add({std::to_string(rep + 1), "nothing changed", fmt(s0, 3), std::to_string(r0.fetched),
                  std::to_string(r0.rehashed)});
        // 1 % of the files get a new version in the cluster.
        for (std::size_t i = 0; i < to_change; ++i) {
            const std::size_t n = (static_cast<std::size_t>(rep) * 7919 + i * 97) % o.small_files;
            const std::string name = "small/" + std::to_string(n % 100) + "/f" + std::to_string(n);
            const auto tmp = work / "changed.tmp";
            std::string content(o.small_bytes, '\0');
            for (auto& ch : content) ch = static_cast<char>(rng());
            std::ofstream(tmp, std::ios::binary) << content;
            put_or_throw(c.probe(), tmp, name);
        }
        auto [s1, r1] = mirror_pass(c, dir, false);
        changed.push_back(s1);
        runs.add({std::to_string(rep + 1), "1% changed", fmt(s1, 3), std::to_string(r1.fetched),
                  std::to_string(r1.rehashed)});
    }
    runs.print();
    const double u = summarize(unchanged).median, ch = summarize(changed).median;
    std::cout << "files: resync of a mirror of " << o.small_files << " files (a fresh mirror process): nothing changed "
              << fmt(u * 1000) << " ms (target < 1000 ms: " << (u < 1.0 ? "met" : "missed") << "), " << to_change
              << " changed " << fmt(ch * 1000) << " ms\n";
}

void bench_sweep(const options& o, bench_cluster& c, const std::filesystem::path& work) {
    const std::uint64_t bytes = o.sweep_mib << 20;
    const auto src = work / "sweep.bin", out = work / "sweep.out";
    write_random(src, bytes, 4);
    put_or_throw(c.probe(), src, "sweep.bin");
    struct remove_at_end {
        client& probe;
        ~remove_at_end() { (void)probe.remove_file("sweep.bin", std::chrono::seconds(10)); }
    } cleanup{c.probe()};
    table t({"chunk", "credit (chunks)", "median MiB/s", "min", "max", "x raw (same chunk)"});
    for (const auto& chunk_text : split_list(o.sweep_chunks)) {
        const std::uint64_t chunk = std::stoull(chunk_text);
        std::vector<double> raw;
        std::map<std::uint64_t, std::vector<double>> got;
        for (int rep = 0; rep < o.reps; ++rep) {
            raw.push_back(mib_per_s(bytes, raw_transfer(bytes / chunk, chunk, "", "")));
            for (const auto& credit_text : split_list(o.sweep_credits)) {
                const std::uint64_t credit = std::stoull(credit_text);
                got[credit].push_back(mib_per_s(bytes, fetch_seconds(c, "sweep.bin", out, false, chunk, chunk * credit)));
            }
        }
        const double raw_median = summarize(raw).median;
        for (const auto& [credit, rates] : got) {
            const summary s = summarize(rates);
            t.add({std::to_string(chunk), std::to_string(credit), fmt(s.median), fmt(s.min), fmt(s.max),
                   fmt(s.median / raw_median, 2)});
        }
    }
    t.print();
    std::filesystem::remove(src);
}

int run(const options& o) {
    const std::string broker_path = o.broker.empty() ? default_broker_path() : o.broker;
    require_executable(broker_path, "the broker");
    cluster_settings settings;
    settings.brokers = 1;
    bench_cluster c(broker_path, settings);
    c.start_all();
    if (!c.wait_settled(0, std::chrono::seconds(30))) {
        std::cerr << "the broker did not become active within 30 s:\n" << c.log_tail();
        return 1;
    }
    const auto work = c.directory() / "work";
    std::filesystem::create_directories(work);
    std::cout << "starbus-bench-files: " << o.reps << " repetitions; cluster " << c.describe() << "; data in "
              << c.directory() << "\n";
    const auto parts = split_list(o.parts);
    const auto has = [&](const char* p) { return std::find(parts.begin(), parts.end(), p) != parts.end(); };
    if (has("large")) bench_large(o, c, work);
    if (has("small") || has("resync")) bench_small(o, c, work, has("resync"));
    if (has("resync")) bench_resync(o, c, work);
    if (has("sweep")) bench_sweep(o, c, work);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"starbus-bench-files: file transfer throughput and mirror resync, against raw libzmq PUSH/PULL"};
    options o;
    app.add_option("--reps", o.reps, "repetitions (medians are reported)")->check(CLI::Range(1, 100));
    app.add_option("--large-mib", o.large_mib, "size of the large file")->check(CLI::Range(1, 65536));
    app.add_option("--small-files", o.small_files, "number of small files")->check(CLI::Range(1, 1000000));
    app.add_option("--small-bytes", o.small_bytes, "size of each small file")->check(CLI::Range(1, 1 << 20));
    app.add_option("--parts", o.parts, "comma-separated: large, small, resync, sweep");
    app.add_option("--sweep-chunks", o.sweep_chunks, "sweep: chunk sizes in bytes");
    app.add_option("--sweep-credits", o.sweep_credits, "sweep: credits, in chunks");
    app.add_option("--sweep-mib", o.sweep_mib, "sweep: file size")->check(CLI::Range(1, 65536));
    app.add_option("--broker", o.broker, "starbus-broker to run (default: next to this program)");
    bool push_mode = false;
    std::string endpoint, from;
    std::uint64_t count = 0, size = 0;
    app.add_flag("--serve-push", push_mode, "internal: be the raw sender")->group("");
    app.add_option("--endpoint", endpoint, "internal")->group("");
    app.add_option("--count", count, "internal")->group("");
    app.add_option("--size", size, "internal")->group("");
    app.add_option("--from", from, "internal")->group("");
    CLI11_PARSE(app, argc, argv);
    install_exit_handlers();
    return guarded("starbus-bench-files", [&] {
        if (push_mode) return serve_push(endpoint, count, size, from);
        return run(o);
    });
}
