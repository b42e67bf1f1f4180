// File: test_file_install.cpp
// Installing received files: a new version replaces the old one under its
// final name in one rename (the old one stays whole until then), a failed
// batch member leaves its destination untouched and its temporary file gone,
// and the background installer reports results through its descriptor.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>

#include <fstream>

#include <starbus/files/file_install.hpp>

#include "testutil.hpp"

using namespace starbus;

namespace {

// "prefix" + number, built with append(): GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string`.
std::string named(std::string prefix, std::uint64_t n) { return prefix.append(std::to_string(n)); }

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

install_job job_for(std::uint64_t id, const std::filesystem::path& temp, const std::filesystem::path& final_path,
                    const std::string& content) {
    std::ofstream(temp, std::ios::binary) << content;
    return install_job{id, unique_fd(::open(temp.c_str(), O_RDWR | O_CLOEXEC)), temp, final_path};
}

}  // namespace

TEST_CASE("files: installing replaces the old version in one step and removes the temporary file") {
    starbus::test::temp_dir dir;
    const auto target = dir.path() / "f";
    std::ofstream(target) << "old";
    for (bool durable : {true, false}) {
        std::vector<install_job> jobs;
        jobs.push_back(job_for(1, dir.path() / "t1", target, durable ? "new durable" : "new"));
        auto results = install_files(std::move(jobs), durable);
        REQUIRE(results.size() == 1);
        CHECK(results[0].ok);
        CHECK(results[0].id == 1);
        CHECK(read_file(target) == (durable ? "new durable" : "new"));
        CHECK_FALSE(std::filesystem::exists(dir.path() / "t1"));
    }
}

TEST_CASE("files: a batch installs many files with one flush, and one failure spoils only itself") {
    starbus::test::temp_dir dir;
    std::filesystem::create_directories(dir.path() / "out");
    std::vector<install_job> jobs;
    for (int i = 0; i < 20; ++i)
        jobs.push_back(job_for(static_cast<std::uint64_t>(i), dir.path() / (named("t", i)),
                               dir.path() / "out" / std::to_string(i), named("content ", i)));
    // This one's destination directory does not exist: its rename fails.
    jobs.push_back(job_for(99, dir.path() / "t99", dir.path() / "missing-dir" / "x", "lost"));
    auto results = install_files(std::move(jobs), true);
    REQUIRE(results.size() == 21);
    for (const auto& r : results) {
        if (r.id == 99) {
            CHECK_FALSE(r.ok);
            CHECK(r.error.find("cannot rename") != std::string::npos);
        } else {
            CHECK(r.ok);
            CHECK(read_file(dir.path() / "out" / std::to_string(r.id)) == named("content ", r.id));
        }
    }
    CHECK_FALSE(std::filesystem::exists(dir.path() / "t99"));
}

TEST_CASE("files: the background installer works off the caller's thread and signals its descriptor", "[threads]") {
    starbus::test::temp_dir dir;
    background_installer installer(true);
    for (int i = 0; i < 50; ++i)
        installer.submit(job_for(static_cast<std::uint64_t>(i), dir.path() / (named("t", i)),
                                 dir.path() / (named("f", i)), std::string(1000, static_cast<char>('a' + i % 26))));
    std::vector<install_result> got;
    const bool all = starbus::test::wait_until(
        [&] {
            pollfd p{installer.notify_fd(), POLLIN, 0};
            if (::poll(&p, 1, 10) == 1)
                for (auto& r : installer.take_results()) got.push_back(std::move(r));
            return got.size() == 50;
        },
        std::chrono::seconds(20));
    REQUIRE(all);
    CHECK(installer.outstanding() == 0);
    for (const auto& r : got) {
        CHECK(r.ok);
        CHECK(std::filesystem::file_size(dir.path() / (named("f", r.id))) == 1000);
    }
}
