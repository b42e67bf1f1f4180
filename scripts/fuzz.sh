#!/usr/bin/env bash
# File: scripts/fuzz.sh
# The fuzz run (tests/fuzz/README.md, and part of CI): installs the dependencies
# and clang with libFuzzer, configures build-fuzz/ with -DSTARBUS_FUZZ=ON,
# builds every fuzz target, and runs each for FUZZ_SECONDS, starting from a
# copy of the committed corpus (tests/fuzz/corpus/TARGET/, never written to)
# plus the seeds make_seeds writes from the current code. Prints, per target,
# the executions done and whether it found anything; a crashing, leaking,
# hanging or over-allocating input is left in build-fuzz/findings/. Exits 1 on
# any finding, 2 on a setup failure.
# Usage: scripts/fuzz.sh [TARGET...]      (default: every fuzz_* target built)
# Environment: FUZZ_SECONDS (default 20) per target; BUILD_DIR (default
#   build-fuzz); JOBS (default 2) for the build; FUZZ_PREBUILT=1: BUILD_DIR
#   already holds the targets (scripts/quick-checks.sh), skip installing,
#   configuring and building; FUZZ_MALLOC_LIMIT_MB (default
#   128): one allocation above it is a finding, inputs being at most 4 KiB.
# Reproduce a finding: build-fuzz/fuzz/TARGET build-fuzz/findings/TARGET-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
seconds=${FUZZ_SECONDS:-20}
malloc_limit=${FUZZ_MALLOC_LIMIT_MB:-128}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
    exit 2
fi

if [[ ${FUZZ_PREBUILT:-0} != 1 ]]; then
    # clang-14 and its runtimes: libclang-rt-14-dev holds libFuzzer (libclang_rt.fuzzer-x86_64.a).
    scripts/install-deps.sh clang-14 libclang-rt-14-dev

    echo "== configure (clang, libFuzzer + ASan + UBSan) into $build_dir/"
    # A build directory configured with another compiler cannot be switched in place.
    if [[ -f $build_dir/CMakeCache.txt ]] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$build_dir/CMakeCache.txt"; then
        rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
    fi
    cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTARBUS_FUZZ=ON \
        -DSTARBUS_BUILD_TESTS=OFF -DSTARBUS_BUILD_EXAMPLES=OFF -DSTARBUS_BUILD_BENCH=OFF >/dev/null

    echo "== build"
    cmake --build "$build_dir" -j"$jobs" --target starbus_fuzz make_seeds
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for bin in "$build_dir"/fuzz/fuzz_*; do targets+=("$(basename "$bin")"); done
fi
for t in "${targets[@]}"; do
    if [[ ! -x $build_dir/fuzz/$t ]]; then
        echo "fuzz: no target '$t' in $build_dir/fuzz/ (add it to tests/fuzz/CMakeLists.txt)" >&2
        exit 2
    fi
done

run_dir=$build_dir/fuzz-run
findings=$build_dir/findings
rm -rf "$run_dir"
mkdir -p "$run_dir" "$findings"
# The store target's data directories go here (tmpfs when there is one), removed on exit.
scratch_base=/dev/shm
[[ -d $scratch_base && -w $scratch_base ]] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/starbus-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

"$build_dir"/bin/make_seeds "$run_dir/seeds" >/dev/null

echo "== fuzz: ${#targets[@]} targets, $seconds s each"
status=0
summary=()
for t in "${targets[@]}"; do
    corpus=$run_dir/corpus/$t
    seeds=$run_dir/seeds/$t
    log=$run_dir/$t.log
    mkdir -p "$corpus" "$seeds"
    if [[ -d tests/fuzz/corpus/$t ]]; then cp -R tests/fuzz/corpus/"$t"/. "$corpus"/; fi
    rm -f "$findings/$t"-*
    started=$(date +%s)
    rc=0
    # -max_total_time ends the fuzzing; timeout is the backstop if the target hangs outside an input.
    TMPDIR=$scratch timeout -k 10 $((seconds + 60)) "$build_dir/fuzz/$t" -max_total_time="$seconds" \
        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit" \
        -artifact_prefix="$findings/$t-" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
    elapsed=$(($(date +%s) - started))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    files=$(find "$corpus" -type f | wc -l)
    artifacts=$(find "$findings" -name "$t-*" -type f | sort)
    if [[ $rc -eq 0 && -z $artifacts ]]; then
        result=ok
    else
        status=1
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then result="did not stop after $((seconds + 60)) s"; else result="FINDING (exit $rc)"; fi
        echo "---- $t: $result; from $log:"
        grep -E '^==[0-9]+==|^SUMMARY|fuzz property violated|^ERROR|deadly signal|uncaught exception|out-of-memory|leak' "$log" |
            head -20 || true
        for a in $artifacts; do echo "     input: $a (reproduce: $build_dir/fuzz/$t $a)"; done
    fi
    line=$(printf '%-20s %12s executions %5s s  corpus %5s  %s' "$t" "${execs:-?}" "$elapsed" "$files" "$result")
    echo "$line"
    summary+=("$line")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
if [[ $status -ne 0 ]]; then
    echo "fuzz: findings above; the inputs are in $findings/ (logs in $run_dir/)" >&2
fi
exit "$status"
