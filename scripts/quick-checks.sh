#!/usr/bin/env bash
# File: scripts/quick-checks.sh
# The memory-error, undefined-behaviour, data-race and fuzz part of the test
# command (scripts/test.sh), sized to fit it: two instrumented builds of only
# what they run, and runs that aim at where hostile input and threads are.
#   build   build-check/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer
#           + libFuzzer's coverage): starbus-broker and every fuzz target;
#           build-check-tsan/ (ThreadSanitizer): the unit tests that run threads
#           of ours (thread_unit_tests) and starbus-broker (its file installer is
#           the one thread starbus runs besides libzmq's).
#   run     every fuzz target for FUZZ_SECONDS (10) under ASan + UBSan (every
#           decoder: frames and messages, the cluster file, the data directory,
#           paths, manifests, chunk plans); the integration tests of hostile
#           input, hardening, the spec and security, run from the Release build against
#           ASan + UBSan brokers (STARBUS_TEST_BIN_DIR; the CLI stays the Release
#           one); under TSan, thread_unit_tests and the file integration tests
#           against TSan brokers. Any sanitizer report, in a test program or in a
#           broker, fails the run (reports go to build-check/reports/ and are printed).
# Why this and not the whole suite three times: the whole suite under ASan and
# TSan, with 20 s per fuzz target, took about 40 of CI's minutes and two builds
# of everything. Hostile input lands in the decoders (fuzzed) and in the broker
# (run instrumented on every hostile-input test), and the installer is the only
# thread of ours: this builds only those, about a third of the tree twice, and
# runs in a few minutes. The full runs stay one command: scripts/release-checks.sh.
# Usage: scripts/quick-checks.sh build|run
# Environment: RELEASE_BUILD_DIR (default build: the Release build with the
#   integration tests), JOBS (default 2), FUZZ_SECONDS (default 10),
#   STARBUS_DEPS_INSTALLED=1 skips scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step=${1:-}
jobs=${JOBS:-2}
release=${RELEASE_BUILD_DIR:-build}
asan_dir=build-check
tsan_dir=build-check-tsan
reports=$PWD/$asan_dir/reports
# Line tables only, -O1: stack traces with file and line at a fraction of -g's compile time.
flags=(-DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo
       "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only"
       -DSTARBUS_BUILD_TESTS=ON -DSTARBUS_BUILD_BENCH=OFF -DSTARBUS_BUILD_EXAMPLES=OFF)

# A build directory configured with another compiler cannot be switched in place.
configure() {
    local dir=$1
    shift
    if [[ -f $dir/CMakeCache.txt ]] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$dir/CMakeCache.txt"; then
        rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
    fi
    cmake -S . -B "$dir" "${flags[@]}" "$@" >/dev/null
}

do_build() {
    if [[ ${STARBUS_DEPS_INSTALLED:-0} != 1 ]]; then scripts/install-deps.sh clang-14 libclang-rt-14-dev; fi
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    echo "== quick checks: ASan + UBSan + fuzz build into $asan_dir/"
    configure "$asan_dir" -DSTARBUS_FUZZ=ON -DSTARBUS_SANITIZE=OFF -DSTARBUS_SANITIZE_THREAD=OFF
    cmake --build "$asan_dir" -j"$jobs" --target starbus-broker starbus_fuzz make_seeds
    echo "== quick checks: TSan build into $tsan_dir/"
    configure "$tsan_dir" -DSTARBUS_FUZZ=OFF -DSTARBUS_SANITIZE=OFF -DSTARBUS_SANITIZE_THREAD=ON
    cmake --build "$tsan_dir" -j"$jobs" --target thread_unit_tests starbus-broker
}

# A directory with the instrumented broker of build directory $1 and the Release CLI, for STARBUS_TEST_BIN_DIR.
brokers_of() {
    local dir=$PWD/$1/with-release-cli
    mkdir -p "$dir"
    ln -sf "$PWD/$1/bin/starbus-broker" "$dir/starbus-broker"
    ln -sf "$PWD/$release/bin/starbus" "$dir/starbus"
    echo "$dir"
}

# Prints every sanitizer report written to $reports and fails when there is one.
check_reports() {
    local what=$1
    shopt -s nullglob
    local found=("$reports"/*)
    shopt -u nullglob
    if [[ ${#found[@]} -gt 0 ]]; then
        for f in "${found[@]}"; do
            echo "---- sanitizer report $f ($what):"
            head -60 "$f"
        done
        return 1
    fi
}

do_run() {
    local status=0
    rm -rf "$reports"
    mkdir -p "$reports"
    # halt_on_error: the first report stops the process (a broker then dies and its test fails too).
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$reports/asan"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"

    echo "== quick checks: hostile-input, hardening, spec and security tests against ASan + UBSan brokers"
    STARBUS_TEST_BIN_DIR=$(brokers_of "$asan_dir") ctest --test-dir "$release" --output-on-failure -j"$jobs" --timeout 300 \
        -R '^integration:(bad input|hardening|spec|security):' || status=1
    check_reports "brokers under ASan" || status=1

    echo "== quick checks: fuzz, ${FUZZ_SECONDS:-10} s per target"
    # libFuzzer reports to its own log (fuzz.sh prints it): not to $reports.
    env -u ASAN_OPTIONS -u UBSAN_OPTIONS FUZZ_SECONDS="${FUZZ_SECONDS:-10}" FUZZ_PREBUILT=1 BUILD_DIR="$asan_dir" \
        scripts/fuzz.sh || status=1

    echo "== quick checks: threads under TSan"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp:log_path=$reports/tsan"
    "$tsan_dir"/bin/thread_unit_tests || status=1
    STARBUS_TEST_BIN_DIR=$(brokers_of "$tsan_dir") ctest --test-dir "$release" --output-on-failure -j"$jobs" --timeout 300 \
        -R '^integration:files: (put, ls|a returning primary|a file replaced)' || status=1
    check_reports "TSan" || status=1
    return "$status"
}

case "$step" in
    build) do_build ;;
    run) do_run ;;
    *)
        echo "usage: scripts/quick-checks.sh build|run  (not '$step')" >&2
        exit 2
        ;;
esac
