#!/usr/bin/env bash
# File: scripts/test.sh
# The test command (README.md, and what CI runs through .ci/run), under 20
# minutes from a cold ccache on 2 cores:
#   1. installs the dependencies once (clang for the checks included);
#   2. builds the Release tree with the tests into build/ (no benchmarks or
#      examples: the package test builds the examples against the installed
#      package instead);
#   3. runs every Release test but the chaos harness's (unit, integration,
#      package), two at a time;
#   4. runs the chaos harness's runs (as root: the short runs of seeds 1 and 2,
#      the failover/failback cycles, the replica cut) while the sanitizer builds
#      of scripts/quick-checks.sh compile beside them at the lowest CPU priority
#      (the chaos runs wait on the cluster, not on the CPU, most of the time);
#   5. runs the quick checks: the unit tests and the hostile-input tests under
#      ASan + UBSan, every fuzz target, the threaded code under TSan.
# The full sanitizer and fuzz runs are scripts/release-checks.sh.
# Exits non-zero if any part failed.
# Usage: scripts/test.sh
# Environment: BUILD_DIR (default build), JOBS (default 2, the machine's size),
#   STARBUS_QUICK=1 skips the quick checks (steps 4's builds and 5).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
quick=${STARBUS_QUICK:-0}
started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

if [[ $quick == 1 ]]; then scripts/install-deps.sh; else scripts/install-deps.sh clang-14 libclang-rt-14-dev; fi
export STARBUS_DEPS_INSTALLED=1
# Build directories elsewhere (a clone, a worktree) share ccache's cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

echo "== configure (Release, tests on) into $build_dir/ [$(elapsed)]"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_TESTS=ON -DSTARBUS_BUILD_BENCH=OFF \
    -DSTARBUS_BUILD_EXAMPLES=OFF >/dev/null

echo "== build [$(elapsed)]"
cmake --build "$build_dir" -j"$jobs"

status=0
echo "== test: everything but the chaos runs [$(elapsed)]"
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 300 -LE '^chaos$' || status=$?

echo "== test: the chaos runs$([[ $quick == 1 ]] || echo ", with the quick checks' builds beside them") [$(elapsed)]"
builder=
if [[ $quick != 1 ]]; then
    nice -n 19 scripts/quick-checks.sh build >"$build_dir/quick-checks-build.log" 2>&1 &
    builder=$!
fi
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -L '^chaos$' || status=$?
if [[ -n $builder ]]; then
    if ! wait "$builder"; then
        tail -50 "$build_dir/quick-checks-build.log"
        echo "test: the quick checks' builds failed (log: $build_dir/quick-checks-build.log)" >&2
        exit 1
    fi
    echo "== quick checks [$(elapsed)]"
    RELEASE_BUILD_DIR=$build_dir scripts/quick-checks.sh run || status=$?
fi
echo "== done in $(elapsed), status $status"
exit "$status"
