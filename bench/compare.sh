#!/usr/bin/env bash
# bench/compare.sh: starbus next to the peers a user would compare it with, in one invocation, printed
# as one markdown table with ratios (issue 13, "Benchmarks"). Runs REPS rounds (default 5) of, each once
# per round (--reps 1) in an order rotating from round to round:
#   starbus-bench-bus    best-effort (--retain 0) and retained (100,000) bus; raw libzmq proxy baseline inside
#   starbus-bench-acks   ack replica, 0/1/2 replicas, fsync batch and never; raw echo round trips inside
#   starbus-bench-peers  NATS core, JetStream R1/R3, Redis pub/sub, Redis SET + WAIT 1 0 (everysec, always)
#
#   bench/compare.sh                     # 5 rounds, build in ./build-bench, logs in build-bench/compare-results/DATE/
#   REPS=3 QUICK=1 bench/compare.sh      # a faster pass: fewer messages per run
#   BUILD_DIR=/tmp/b OUT_DIR=/tmp/out bench/compare.sh
#   TABLE_FROM=build-bench/compare-results/DATE bench/compare.sh   # the table again, from earlier logs
#
# Installs what it needs from Debian when missing (nats-server, redis-server, redis-tools, libhiredis-dev),
# without starting Redis's system service. The runs take 3-5 minutes with REPS=5 on a 2-core machine (plus
# the build). The figures are medians over the rounds, the ratios medians of the per-round ratios.
# See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${BUILD_DIR:-$root/build-bench}"
reps="${REPS:-5}"
quick="${QUICK:-0}"
out="${OUT_DIR:-$build/compare-results/$(date +%Y%m%d-%H%M%S)}"

# ---- dependencies ----

have_deps() {
    { command -v nats-server >/dev/null || [[ -x /usr/sbin/nats-server ]]; } &&
        command -v redis-server >/dev/null && pkg-config --exists hiredis 2>/dev/null
}

install_deps() {
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || {
            echo "compare.sh: need nats-server, redis-server, libhiredis-dev: run as root or install them:" >&2
            echo "  apt-get install -y nats-server redis-server redis-tools libhiredis-dev" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    # redis-server's package starts a system service on port 6379. The benchmark never uses it; a
    # policy-rc.d that says "no" keeps invoke-rc.d (and deb-systemd-invoke) from starting it at all,
    # with or without systemd. An existing policy-rc.d (containers often have one) is left alone.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        added_policy=1
    fi
    local pkgs=(nats-server redis-server redis-tools libhiredis-dev)
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${pkgs[@]}"; then
        "${sudo[@]}" apt-get update
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${pkgs[@]}"
    fi
    if ((added_policy)); then "${sudo[@]}" rm -f "$policy"; fi
}

if [[ -n ${TABLE_FROM:-} ]]; then
    # Only the table, again, from the logs of an earlier run.
    out=$TABLE_FROM
    failed=()
else
    have_deps || install_deps

    # ---- build ----

    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_BENCH=ON >/dev/null
    cmake --build "$build" -j2 --target starbus-broker starbus-bench-bus starbus-bench-acks starbus-bench-peers

    # ---- run ----

    # Every program runs once per round (--reps 1), the order rotating from round to round, so that
    # starbus and its peers are measured seconds apart under the same load; the table gives the
    # medians over the rounds and, as ratios, the medians of the per-round ratios.
    bus_args=(--reps 1 --retain "0,100000")
    # The retained bus as the issue states its goal: acknowledged by a replica (ack = "replica"), fsync batch.
    bus2_args=(--reps 1 --retain 100000 --brokers 2 --variants raw,starbus)
    acks_args=(--reps 1 --replicas "0,1,2" --acks replica --fsync "batch,never")
    peers_args=(--reps 1)
    if [[ $quick == 1 ]]; then
        bus_args+=(--messages 50000)
        bus2_args+=(--messages 50000)
        acks_args+=(--changes 5000 --publishes 5000 --latency-requests 500)
        peers_args+=(--messages 50000 --fanout-messages 20000 --publishes 5000 --changes 5000 --latency-requests 500)
    fi

    mkdir -p "$out"
    {
        echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
        echo "settings: REPS=$reps rounds, QUICK=$quick"
        echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$out/machine.txt"
    start=$SECONDS
    failed=()
    run_bench() {  # run_bench DIR NAME ARGS...: one benchmark, its output to the terminal and DIR/NAME.txt
        local dir=$1 name=$2
        shift 2
        echo
        echo "=== round ${dir##*-}: starbus-bench-$name $* ($(date +%T))"
        # Each benchmark bounds its own loops; the timeout is a last resort.
        local file=${LOG_AS:-$name}
        if ! timeout 1800 "$build/bin/starbus-bench-$name" "$@" 2>&1 | tee "$dir/$file.txt"; then
            failed+=("$name (round ${dir##*-})")
        fi
    }
    programs=(bus acks peers bus2)
    for ((round = 1; round <= reps; round++)); do
        mkdir -p "$out/round-$round"
        for ((i = 0; i < ${#programs[@]}; i++)); do
            name=${programs[$(((i + round - 1) % ${#programs[@]}))]}
            case $name in
            bus) run_bench "$out/round-$round" bus "${bus_args[@]}" ;;
            bus2) LOG_AS=bus2 run_bench "$out/round-$round" bus "${bus2_args[@]}" ;;
            acks) run_bench "$out/round-$round" acks "${acks_args[@]}" ;;
            peers) run_bench "$out/round-$round" peers "${peers_args[@]}" ;;
            esac
        done
    done
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); run time $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >>"$out/machine.txt"
fi

# ---- parse the summary lines ----
# Each reader below takes its figure from the logs of one round, in $dir.

first() { grep -m1 -E "$1" "$2" 2>/dev/null || true; }
field() { sed -nE "s/$1/\\1/p" <<<"$2"; }  # field REGEX-WITH-ONE-GROUP LINE

bus() {  # bus none | log | raw: starbus best effort, starbus retained, the raw proxy (msg/s)
    local none
    none=$(first '^bus: starbus \[no log\] ' "$dir/bus.txt")
    case $1 in
    none) field '^bus: starbus \[no log\] ([0-9]+) msg\/s.*' "$none" ;;
    log) field '^bus: starbus \[log [0-9]+\] ([0-9]+) msg\/s.*' "$(first '^bus: starbus \[log [0-9]+\] ' "$dir/bus.txt")" ;;
    raw) field '.*raw proxy ([0-9]+) msg\/s.*' "$none" ;;
    log2) field '^bus: starbus \[log [0-9]+, 2 brokers\] ([0-9]+) msg\/s.*' "$(first '^bus: starbus \[log [0-9]+, 2 brokers\] ' "$dir/bus2.txt")" ;;
    raw2) field '.*raw proxy ([0-9]+) msg\/s.*' "$(first '^bus: starbus \[log [0-9]+, 2 brokers\] ' "$dir/bus2.txt")" ;;
    esac
}
# acks FIGURE BROKERS FSYNC: changes | p50 | publishes | raw (round trips/s) | rawp50 of that group
acks() {
    local line
    line=$(first "^acks: $2 broker\\(s\\), [0-9]+ replica\\(s\\), fsync $3, ack replica: " "$dir/acks.txt")
    case $1 in
    changes) field '.*ack replica: ([0-9]+) changes\/s.*' "$line" ;;
    p50) field '.*set\(\) p50 ([0-9]+) us.*' "$line" ;;
    publishes) field '.* ([0-9]+) publishes\/s.*' "$line" ;;
    raw) field '.*\(raw echo ([0-9]+) rt\/s, p50 [0-9]+ us\)$' "$line" ;;
    rawp50) field '.*\(raw echo [0-9]+ rt\/s, p50 ([0-9]+) us\)$' "$line" ;;
    esac
}
peer() {  # peer NAME: the figure of "peers: NAME: FIGURE UNIT (...)" (names hold / and +: no regex)
    awk -v p="peers: $1: " 'index($0, p) == 1 { split(substr($0, length(p) + 1), f, " "); print f[1]; exit }' \
        "$dir/peers.txt" 2>/dev/null || true
}
constant() { echo "$1"; }

# The rounds of this run (an older run without rounds is one round, its own directory).
rounds=()
for d in "$out"/round-*; do [[ -d $d ]] && rounds+=("$d"); done
((${#rounds[@]})) || rounds=("$out")

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.10g\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# over SPEC: the median over the rounds of the figure SPEC (a reader call above), or nothing
over() {
    [[ -n $1 ]] || return 0
    local v
    for dir in "${rounds[@]}"; do
        v=$(eval "$1")
        [[ -n $v ]] && echo "$v"
    done | median
}
# paired STARBUS-SPEC PEER-SPEC: the median over the rounds of starbus / peer in the same round
paired() {
    [[ -n $1 && -n $2 ]] || return 0
    local a b
    for dir in "${rounds[@]}"; do
        a=$(eval "$1")
        b=$(eval "$2")
        [[ -n $a && -n $b && $b != 0 ]] && awk -v a="$a" -v b="$b" 'BEGIN { print a / b }'
    done | median
}

# ---- the table ----

group() {  # an integer in groups of three digits: 1234567 -> 1 234 567; nothing -> —
    [[ -n $1 ]] || {
        echo "—"
        return
    }
    printf '%.0f' "$1" | sed -E ':a; s/([0-9])([0-9]{3})($| )/\1 \2\3/; ta'
}
# row MEASURE STARBUS RAW NATS JS1 JS3 REDIS [NOTE]: each figure a reader call, or "" for none
row() {
    local ratios=() r i names=("" "" raw NATS "JS R1" "JS R3" Redis)
    for i in 3 4 5 6 7; do
        r=$(paired "$2" "${!i}")
        [[ -n $r ]] && ratios+=("$(printf '%.2f× %s' "$r" "${names[$((i - 1))]}")")
    done
    local joined
    joined=$(
        IFS=';'
        echo "${ratios[*]:-}"
    )
    joined=${joined//;/, }
    [[ -n ${8:-} ]] && joined="${joined:+$joined; }$8"
    echo "| $1 | $(group "$(over "$2")") | $(group "$(over "$3")") | $(group "$(over "$4")") |" \
        "$(group "$(over "$5")") | $(group "$(over "$6")") | $(group "$(over "$7")") | ${joined:-—} |"
}
goal() {  # goal TEXT STARBUS >=|<= FACTOR BASE: "- TEXT: R×: met|MISSED" (R: median of the per-round ratios)
    local r
    r=$(paired "$2" "$5")
    if [[ -z $r ]]; then
        echo "- $1: not measured"
        return 0
    fi
    awk -v t="$1" -v r="$r" -v op="$3" -v k="$4" 'BEGIN {
        ok = (op == ">=") ? (r >= k) : (r <= k)
        printf "- %s: %.2f×: %s\n", t, r, ok ? "met" : "MISSED"
    }'
}

{
    cat "$out/machine.txt"
    echo "figures: medians over ${#rounds[@]} round(s); ratios: medians of the per-round ratios (each round runs"
    echo "every program once, seconds apart); loopback, 100-byte messages and values; logs in $out"
    echo
    echo "| measure | starbus | raw libzmq | NATS core | JetStream R1 | JetStream R3 | Redis | starbus / peer |"
    echo "|---|---|---|---|---|---|---|---|"
    row "bus 1 pub → 1 sub, best effort (\`retain_messages = 0\`), delivered msg/s" \
        "bus none" "bus raw" "peer 'nats core 1->1 delivered'" "" "" "peer 'redis pub/sub 1->1 delivered'"
    row "bus 1 pub → 1 sub, retained (log 100,000, 1 broker), delivered msg/s" "bus log" "bus raw" "" "" "" ""
    row "bus 1 pub → 1 sub, retained, acknowledged by a replica (2 brokers, fsync batch), delivered msg/s" \
        "bus log2" "bus raw2" "" "" "" ""
    row "1 pub → 10 subs, delivered msg/s (all subscribers)" "" "" "peer 'nats core 1->10 delivered'" "" "" "" \
        "starbus: not measured here"
    for fs in never batch; do
        row "acknowledged publishes/s, 1 node, window 1,000 (starbus fsync $fs)" "acks publishes 1 $fs" \
            "acks raw 1 $fs" "" "peer 'jetstream R1 acked publishes'" "" ""
    done
    for fs in never batch; do
        row "acknowledged publishes/s, 3 nodes, ack by 1 of 2 replicas / R3 quorum (starbus fsync $fs)" \
            "acks publishes 3 $fs" "acks raw 3 $fs" "" "" "peer 'jetstream R3 acked publishes'" ""
    done
    row "one acknowledged change (starbus \`set\`) or publish (JetStream) at a time, 1 node, p50 µs (fsync never; lower is better)" \
        "acks p50 1 never" "acks rawp50 1 never" "" "peer 'jetstream R1 publish p50'" "" ""
    row "one acknowledged change (starbus \`set\`) or publish (JetStream) at a time, 3 nodes, p50 µs (fsync never; lower is better)" \
        "acks p50 3 never" "acks rawp50 3 never" "" "" "peer 'jetstream R3 publish p50'" ""
    row "changes acknowledged by a replica/s, window 1,000: starbus fsync never vs Redis SET + WAIT 1 0, AOF everysec" \
        "acks changes 2 never" "acks raw 2 never" "" "" "" "peer 'redis SET+WAIT everysec'"
    row "changes acknowledged by a replica/s, window 1,000: starbus fsync batch vs Redis SET + WAIT 1 0, AOF always" \
        "acks changes 2 batch" "acks raw 2 batch" "" "" "" "peer 'redis SET+WAIT always'"
    row "one change acknowledged by a replica, p50 µs: starbus fsync never vs Redis AOF everysec (lower is better)" \
        "acks p50 2 never" "acks rawp50 2 never" "" "" "" "peer 'redis SET+WAIT everysec p50'"
    row "one change acknowledged by a replica, p50 µs: starbus fsync batch vs Redis AOF always (lower is better)" \
        "acks p50 2 batch" "acks rawp50 2 batch" "" "" "" "peer 'redis SET+WAIT always p50'"
    row "bare round trip one at a time, p50 µs (raw: DEALER/ROUTER echo, 2-broker group; NATS: PING; Redis: PING)" \
        "" "acks rawp50 2 never" "peer 'nats PING p50'" "" "" "peer 'redis PING p50'"
    echo
    echo "Goals of issue 13 that these figures decide (medians of the per-round ratios):"
    goal "best-effort bus ≥ 0.7× the raw proxy" "bus none" ">=" 0.7 "bus raw"
    goal "best-effort bus ≥ NATS core" "bus none" ">=" 1 "peer 'nats core 1->1 delivered'"
    goal "retained bus ≥ 0.5× the raw proxy (ack = \"replica\", fsync batch, 2 brokers)" "bus log2" ">=" 0.5 "bus raw2"
    for fs in batch never; do
        goal "changes acknowledged by a replica ≥ 250 000/s (fsync $fs; ratio to 250 000)" "acks changes 2 $fs" ">=" 1 \
            "constant 250000"
        goal "changes acknowledged by a replica ≥ 1.5× Redis SET + WAIT 1, AOF everysec (fsync $fs)" \
            "acks changes 2 $fs" ">=" 1.5 "peer 'redis SET+WAIT everysec'"
    done
    goal "one change, fsync never, p50 ≤ 2.5× the raw round trip" "acks p50 2 never" "<=" 2.5 "acks rawp50 2 never"
    goal "one change, fsync batch, p50 ≤ 5× the raw round trip" "acks p50 2 batch" "<=" 5 "acks rawp50 2 batch"
    goal "one change, fsync batch, p50 ≤ Redis AOF always + WAIT 1" "acks p50 2 batch" "<=" 1 \
        "peer 'redis SET+WAIT always p50'"
} >"$out/table.md"

echo
echo "=== starbus and its peers (full output in $out)"
cat "$out/table.md"
if ((${#failed[@]})); then
    echo
    echo "failed: ${failed[*]} (see $out)"
    exit 1
fi
