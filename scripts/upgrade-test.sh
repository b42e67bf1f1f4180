#!/usr/bin/env bash
# File: scripts/upgrade-test.sh
# The rolling upgrade across a protocol change, as docs/deploy.md tells it:
# a three-broker cluster runs the release OLD_REV (default 33acd55, the last
# commit before STATUS-REPLY gained `release` and `libzmq`), a writer keeps
# making changes, and each broker in turn, backups first and the primary
# last, is stopped (SIGTERM) and started again from this tree's build. It
# checks that the cluster keeps serving, that `status --json` shows the
# mixed-version cluster while it lasts (an older broker reports no release),
# and that every acknowledged change is on every broker at the end.
# A deeper run, not part of the test command: it builds OLD_REV too (a few
# minutes from a cold ccache). Loopback only; everything it starts it stops,
# and its files go, even on failure.
# Usage: scripts/upgrade-test.sh [OLD_REV]
set -euo pipefail
cd "$(dirname "$0")/.."

old_rev=${1:-33acd55}
new_bin=$PWD/build/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/starbus-upgrade.XXXXXX")
pids=()
cleanup() {
    # SIGTERM first: a broker stops cleanly, and the shell has no killed job to report.
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    git worktree remove --force "$work/old-src" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "== upgrade: $*"; }
fail() {
    echo "upgrade test: FAILED: $*" >&2
    for n in A B C; do [[ -f $work/$n.log ]] && { echo "---- $n" >&2; tail -15 "$work/$n.log" >&2; }; done
    exit 1
}

say "building this tree (build/) and $old_rev (in $work)"
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake --build build -j2 --target starbus-broker starbus >/dev/null
git worktree add --detach "$work/old-src" "$old_rev" >/dev/null 2>&1 || fail "no revision $old_rev"
cmake -S "$work/old-src" -B "$work/old-build" -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_TESTS=OFF \
    -DSTARBUS_BUILD_BENCH=OFF -DSTARBUS_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/old-build" -j2 --target starbus-broker starbus >/dev/null
old_bin=$work/old-build/bin

host=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
port=$((20000 + RANDOM % 30000))
cluster=$work/cluster.toml
{
    echo 'heartbeat_ms = 100'
    i=0
    for n in A B C; do
        printf '\n[[broker]]\nname = "%s"\nendpoint = "tcp://%s:%d"\n' "$n" "$host" $((port + 10 * i))
        i=$((i + 1))
    done
} >"$cluster"
cli() { "$new_bin/starbus" --cluster "$cluster" "$@"; }

declare -A pid_of
start() {  # NAME BIN_DIR
    "$2/starbus-broker" --cluster "$cluster" --name "$1" --data-dir "$work/data-$1" >>"$work/$1.log" 2>&1 &
    pid_of[$1]=$!
    pids+=($!)
}
stop() {  # NAME: SIGTERM, and wait (at most 10 s) for a clean exit
    kill -TERM "${pid_of[$1]}"
    local status=0
    for _ in $(seq 100); do kill -0 "${pid_of[$1]}" 2>/dev/null || break; sleep 0.1; done
    wait "${pid_of[$1]}" || status=$?
    [[ $status -eq 0 ]] || fail "$1 did not stop cleanly (status $status)"
}
state_of() { cli --timeout-ms 1000 status --json 2>/dev/null | jq -r --arg n "$1" '.[] | select(.name == $n) | .state'; }
release_of() { cli --timeout-ms 1000 status --json 2>/dev/null | jq -r --arg n "$1" '.[] | select(.name == $n) | .release // ""'; }
wait_state() {  # NAME STATE SECONDS: votes (a set) while it waits, as a client would
    for _ in $(seq $(($3 * 5))); do
        [[ $(state_of "$1") == "$2" ]] && return 0
        cli --timeout-ms 300 set upgrade.probe x >/dev/null 2>&1 || true
        sleep 0.2
    done
    fail "$1 did not become $2 within $3 s (it is $(state_of "$1"))"
}

say "the old release: A, B, C"
for n in A B C; do start "$n" "$old_bin"; done
wait_state A active 30
wait_state B passive 30
wait_state C passive 30
[[ -z $(release_of A) ]] || fail "the old release reports a release: $(release_of A)"

# The writer: one change at a time, each key written down once acknowledged.
acked=$work/acked
: >"$acked"
(
    for i in $(seq 1 100000); do
        [[ -f $work/stop-writer ]] && break
        if cli --timeout-ms 3000 set "upgrade.$i" v >/dev/null 2>&1; then echo "upgrade.$i" >>"$acked"; fi
    done
) &
writer=$!
pids+=("$writer")

for n in C B; do
    say "$n: stopped, started on the new release"
    stop "$n"
    start "$n" "$new_bin"
    wait_state "$n" passive 60
    [[ -n $(release_of "$n") ]] || fail "$n on the new release reports no release"
done
mixed=$(cli --timeout-ms 1000 status --json | jq -c '[.[] | {name, state, release}]')
say "the mixed-version cluster: $mixed"
[[ -z $(release_of A) ]] || fail "A, still old, reports a release"

say "A (the primary): stopped, B takes over; started on the new release, A takes the role back"
stop A
wait_state B active 30
start A "$new_bin"
wait_state A active 60
wait_state B passive 60
wait_state C passive 60

touch "$work/stop-writer"
wait "$writer" || true
count=$(wc -l <"$acked")
[[ $count -gt 0 ]] || fail "the writer got no change acknowledged"
say "$count changes acknowledged during the upgrade; checking every broker holds each"
for n in A B C; do
    cli --timeout-ms 10000 dump --json --from "$n" | jq -r '.entries[].key' | sort >"$work/keys-$n"
    missing=$(sort "$acked" | comm -23 - "$work/keys-$n" | head -5)
    [[ -z $missing ]] || fail "$n lacks acknowledged changes: $missing"
done
releases=$(cli --timeout-ms 1000 status --json | jq -r '[.[].release] | unique | join(",")')
say "done: every broker on release $releases, no acknowledged change lost"
