#!/usr/bin/env bash
# bench/run-all.sh: builds the benchmarks (Release) and runs every one of them
# with its defaults, then prints the one-line summary of each measure.
#   bench/run-all.sh                 # build in ./build-bench, results in build-bench/bench-results/DATE/
#   BUILD_DIR=/tmp/b bench/run-all.sh
#   ONLY="bus acks" bench/run-all.sh # a subset
# Takes about 10 minutes on a 2-core machine. See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${BUILD_DIR:-$root/build-bench}"
only="${ONLY:-bus acks failover failback files storm}"
out="${OUT_DIR:-$build/bench-results/$(date +%Y%m%d-%H%M%S)}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for b in $only; do targets+=("starbus-bench-$b"); done
cmake --build "$build" -j2 --target "${targets[@]}" starbus-broker starbus

mkdir -p "$out"
failed=()
for b in $only; do
    echo
    echo "=== starbus-bench-$b ($(date +%T))"
    # Each benchmark bounds its own loops; the timeout is a last resort.
    if ! timeout 3600 "$build/bin/starbus-bench-$b" 2>&1 | tee "$out/$b.txt"; then failed+=("$b"); fi
done

echo
echo "=== summary (full output in $out)"
for b in $only; do grep -hE "^$b:" "$out/$b.txt" || echo "$b: no summary (see $out/$b.txt)"; done
if ((${#failed[@]})); then
    echo "failed or missed a correctness check: ${failed[*]}"
    exit 1
fi
