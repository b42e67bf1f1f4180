// File: main.cpp
// starbus: the command-line client of a starbus cluster (cli.hpp lists the
// commands and exit codes; README.md documents them).
#include <cstdlib>
#include <exception>
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    auto parsed = starbus::cli::parse_arguments(args, std::getenv("STARBUS_CLUSTER"), std::getenv("STARBUS_KEY"));
    std::cout << parsed.out << std::flush;
    std::cerr << parsed.err << std::flush;
    if (!parsed.run) return parsed.exit;
    try {
        return starbus::cli::run(*parsed.run);
    } catch (const std::exception& e) {
        // Setup failures (e.g. an endpoint libzmq cannot use) land here.
        std::cerr << "starbus: " << e.what() << std::endl;
        return starbus::cli::exit_usage;
    }
}
