// File: version.cpp
// The run-time half of starbus/version.hpp: the libzmq versions and the --version line.
#include <starbus/version.hpp>

#include <zmq.h>

#include <starbus/wire/codec.hpp>

namespace starbus {
namespace {

std::string dotted(int major, int minor, int patch) {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace

std::string libzmq_version() {
    int major = 0, minor = 0, patch = 0;
    zmq_version(&major, &minor, &patch);
    return dotted(major, minor, patch);
}

std::string libzmq_build_version() { return dotted(ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH); }

std::string version_line(std::string_view program) {
    const std::string running = libzmq_version(), built = libzmq_build_version();
    std::string line = std::string(program) + " " + std::string(release_version) + " (protocol " +
                       std::to_string(protocol_version) + ", libzmq " + running;
    if (running != built) line += ", built with libzmq " + built;
    return line + ")";
}

}  // namespace starbus
