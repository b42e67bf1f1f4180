// File: test_posix_io.cpp
// The POSIX layer every on-disk part of starbus uses (posix_io.hpp): CRC-32C
// against published vectors, whole reads and writes across short transfers,
// atomic_replace() keeping the old content whenever the new one cannot be
// written whole, and errors that name the path.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <starbus/files/posix_io.hpp>

#include "file_bytes.hpp"
#include "testutil.hpp"

using namespace starbus;
namespace fs = std::filesystem;

using starbus::test::read_bytes;
using starbus::test::write_bytes;

namespace {

// Lowers RLIMIT_FSIZE for its lifetime: a write past `bytes` then fails with EFBIG (even for root), a stand-in
// for a full disk.
class file_size_limit {
  public:
    explicit file_size_limit(rlim_t bytes) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &_saved) == 0);
        _old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit tight = _saved;
        tight.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
    }
    ~file_size_limit() {
        ::setrlimit(RLIMIT_FSIZE, &_saved);
        std::signal(SIGXFSZ, _old_handler);
    }
    file_size_limit(const file_size_limit&) = delete;
    file_size_limit& operator=(const file_size_limit&) = delete;

  private:
    rlimit _saved{};
    void (*_old_handler)(int) = nullptr;
};

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 251);
    return s;
}

}  // namespace

TEST_CASE("posix_io: CRC-32C gives the published check value and the RFC 3720 vectors") {
    CHECK(crc32c(std::string_view("123456789")) == 0xE3069283u);
    CHECK(crc32c(std::string_view()) == 0u);
    CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
    CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
    std::string ascending(32, '\0'), descending(32, '\0');
    for (int i = 0; i < 32; ++i) {
        ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
        descending[static_cast<std::size_t>(i)] = static_cast<char>(31 - i);
    }
    CHECK(crc32c(ascending) == 0x46DD794Eu);
    CHECK(crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("posix_io: CRC-32C chains across any split, on and off the 8-byte path") {
    const std::string data = pattern(100);
    const std::uint32_t whole = crc32c(data);
    for (std::size_t cut = 0; cut <= data.size(); ++cut) {
        const std::string_view a(data.data(), cut), b(data.data() + cut, data.size() - cut);
        CHECK(crc32c_update(crc32c(a), b.data(), b.size()) == whole);
    }
    // A bit flipped anywhere changes it.
    for (std::size_t i = 0; i < data.size(); i += 9) {
        std::string damaged = data;
        damaged[i] = static_cast<char>(damaged[i] ^ 0x10);
        CHECK(crc32c(damaged) != whole);
    }
}

TEST_CASE("posix_io: write_all goes on after short writes to a pipe") {
    // A pipe holds 64 KiB: a write of 1 MiB is cut into many short writes while the reader drains it.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    unique_fd reader(fds[0]), writer(fds[1]);
    const std::string data = pattern(1 << 20);
    std::string received;
    std::thread drain([&] {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(reader.get(), buf, sizeof buf);
            if (n <= 0) break;
            received.append(buf, static_cast<std::size_t>(n));
        }
    });
    const int e = write_all(writer.get(), data.data(), data.size());
    writer.reset();  // the reader sees the end
    drain.join();
    CHECK(e == 0);
    CHECK(received == data);
}

TEST_CASE("posix_io: read_full_at returns fewer bytes only at the end of the file, or -errno") {
    test::temp_dir tmp;
    const fs::path p = tmp.path() / "f";
    write_bytes(p, pattern(5000));
    const unique_fd fd = open_file(p, O_RDONLY);
    REQUIRE(fd);
    std::string buf(8000, '\0');
    CHECK(read_full_at(fd.get(), buf.data(), 3000, 1000) == 3000);
    CHECK(buf.substr(0, 3000) == pattern(5000).substr(1000, 3000));
    CHECK(read_full_at(fd.get(), buf.data(), 8000, 0) == 5000);  // short: the file ends
    CHECK(buf.substr(0, 5000) == pattern(5000));
    CHECK(read_full_at(fd.get(), buf.data(), 10, 5000) == 0);  // at the end
    CHECK(read_full_at(fd.get(), buf.data(), 10, 9000) == 0);  // beyond it
    CHECK(read_full_at(-1, buf.data(), 10, 0) == -EBADF);
}

TEST_CASE("posix_io: write_all_at writes at its offset, and a refused write returns its errno") {
    test::temp_dir tmp;
    const fs::path p = tmp.path() / "f";
    unique_fd fd = open_file(p, O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(fd);
    REQUIRE(write_all_at(fd.get(), "abcdef", 6, 0) == 0);
    REQUIRE(write_all_at(fd.get(), "XY", 2, 2) == 0);
    CHECK(read_bytes(p) == "abXYef");
    {
        const file_size_limit limit(10);
        CHECK(write_all_at(fd.get(), "0123456789", 10, 6) == EFBIG);  // 4 bytes fit, the rest is refused
    }
    CHECK(read_bytes(p) == "abXYef0123");
    CHECK(write_all_at(-1, "x", 1, 0) == EBADF);
}

TEST_CASE("posix_io: open_file closes on exec, and syncs report errno") {
    test::temp_dir tmp;
    const unique_fd fd = open_file(tmp.path() / "f", O_RDWR | O_CREAT);
    REQUIRE(fd);
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(sync_all(fd.get()) == 0);
    CHECK(sync_data(fd.get()) == 0);
    CHECK(sync_file_system(fd.get()) == 0);
    CHECK(sync_directory(tmp.path()) == 0);
    CHECK(sync_directory(tmp.path() / "missing") == ENOENT);
    CHECK(sync_all(-1) == EBADF);
    CHECK_FALSE(open_file(tmp.path() / "missing", O_RDONLY));
    CHECK(errno == ENOENT);
}

TEST_CASE("posix_io: atomic_replace puts the new content in place and leaves no temporary") {
    test::temp_dir tmp;
    const fs::path target = tmp.path() / "meta";
    CHECK(temp_path_of(target) == tmp.path() / "meta.tmp");

    SECTION("a new file") { (void)atomic_replace(target, std::string_view("first"), ": advice"); }
    SECTION("over an old one, shorter than it") {
        write_bytes(target, "a much longer old content");
        (void)atomic_replace(target, std::string_view("first"), ": advice");
    }
    SECTION("over a temporary left by a crash") {
        write_bytes(temp_path_of(target), "half-written junk from before the crash");
        (void)atomic_replace(target, std::string_view("first"), ": advice");
    }
    CHECK(read_bytes(target) == "first");
    CHECK_FALSE(fs::exists(temp_path_of(target)));
}

TEST_CASE("posix_io: atomic_replace returns the new file open for reading and writing") {
    test::temp_dir tmp;
    const fs::path target = tmp.path() / "log";
    unique_fd fd = atomic_replace(
        target, [](int f) { REQUIRE(write_all_at(f, "head", 4, 0) == 0); }, "");
    REQUIRE(fd);
    REQUIRE(write_all_at(fd.get(), "+tail", 5, 4) == 0);
    CHECK(read_bytes(target) == "head+tail");
}

TEST_CASE("posix_io: atomic_replace keeps the old content when the new one cannot be written") {
    test::temp_dir tmp;
    const fs::path target = tmp.path() / "snapshot";
    write_bytes(target, "old");

    SECTION("the writer throws") {
        auto fill = [](int fd) {
            REQUIRE(write_all_at(fd, "partial", 7, 0) == 0);
            throw storage_error("the writer gave up");
        };
        CHECK_THROWS_WITH(atomic_replace(target, fill, ": advice"), "the writer gave up");
    }
    SECTION("the disk refuses the write") {
        const file_size_limit limit(100);
        const std::string big(1000, 'n');
        try {
            (void)atomic_replace(target, std::string_view(big), ": check free space");
            FAIL("a write beyond the limit succeeded");
        } catch (const storage_error& e) {
            const std::string what = e.what();
            CHECK_THAT(what, Catch::Contains("cannot write " + temp_path_of(target).string()));
            CHECK_THAT(what, Catch::EndsWith(": check free space"));
        }
    }
    CHECK(read_bytes(target) == "old");
    CHECK_FALSE(fs::exists(temp_path_of(target)));
}

TEST_CASE("posix_io: atomic_replace in a missing directory names the path") {
    test::temp_dir tmp;
    const fs::path target = tmp.path() / "gone" / "meta";
    CHECK_THROWS_WITH(atomic_replace(target, std::string_view("x"), ": create it first"),
                      Catch::Contains("cannot create " + temp_path_of(target).string()) &&
                          Catch::Contains("No such file") && Catch::EndsWith(": create it first"));
}
