#!/usr/bin/env bash
# File: scripts/test.sh
# The test command (README.md, and what CI runs through .ci/run): installs the
# dependencies, configures a Release build with the tests into build/, builds it
# and runs every test with CTest. Exits with CTest's status.
# Usage: scripts/test.sh
# Environment: BUILD_DIR (default build), JOBS (default 2, the machine's size).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}

scripts/install-deps.sh

echo "== configure (Release, tests on) into $build_dir/"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_TESTS=ON

echo "== build"
cmake --build "$build_dir" -j"$jobs"

echo "== test"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 300 || status=$?
exit "$status"
