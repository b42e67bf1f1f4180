#!/usr/bin/env bash
# File: scripts/test.sh
# The test command (README.md, and what CI runs through .ci/run): installs the
# dependencies, configures a Release build with the tests into build/, builds it
# and runs every test with CTest (unit, integration, and, as root, the chaos
# harness's short runs and failover/failback cycles); then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, the threaded
# tests under ThreadSanitizer (scripts/sanitize.sh), and a short libFuzzer run
# of every decoder (scripts/fuzz.sh). Exits non-zero if any part failed.
# Usage: scripts/test.sh
# Environment: BUILD_DIR (default build), JOBS (default 2, the machine's size),
#   FUZZ_SECONDS (default 20 per fuzz target),
#   STARBUS_QUICK=1 skips the sanitizer and fuzz parts (a developer's quick run).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}

scripts/install-deps.sh
# Build directories elsewhere (a clone, a worktree) share ccache's cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

echo "== configure (Release, tests on) into $build_dir/"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_TESTS=ON

echo "== build"
cmake --build "$build_dir" -j"$jobs"

echo "== test"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 300 || status=$?

if [[ ${STARBUS_QUICK:-0} != 1 ]]; then
    scripts/sanitize.sh address || status=$?
    scripts/sanitize.sh thread || status=$?
    FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh || status=$?
fi
exit "$status"
