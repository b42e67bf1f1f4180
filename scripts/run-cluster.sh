#!/usr/bin/env bash
# File: scripts/run-cluster.sh
# The demo (README.md's first command): installs the dependencies, builds
# Release into build/, starts a three-broker cluster (A, B, C) on this machine
# with CURVE security and the example publisher, subscriber and operator, and
# narrates a failover and a failback with `starbus` CLI calls:
#   keys for the brokers and the clients (starbus keygen, in RUN_DIR/keys) ->
#   status -> changes and a file accepted, a mirror of the files started ->
#   a reader's key granted: it reads, its write is refused (exit 6) -> an
#   unknown key is refused at the handshake (exit 6) -> kill -9 the primary A
#   -> B takes over when a client asks -> operational change accepted,
#   configuration change and file put refused -> restart A -> A takes the role
#   back -> every replica holds the same state and files, and the mirror holds
#   the same files.
# Every `starbus` call uses the admin's key (STARBUS_KEY) unless it names
# another with --key.
# Then it stops everything with SIGTERM (or leaves the brokers up with
# --keep-running). Every wait has a deadline; on failure the broker logs' tails
# are printed and the exit status is non-zero.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/run-cluster.sh [--keep-running] [--no-build | --bin-dir DIR] [--run-dir DIR]
       scripts/run-cluster.sh --stop [--run-dir DIR]

  (no option)      install deps, build, run the failover demo, stop everything
  --keep-running   leave the three brokers running after the demo
  --stop           stop what a --keep-running demo left running (SIGTERM, then wait)
  --no-build       skip installing dependencies and building (use build/bin as it is)
  --bin-dir DIR    run the programs in DIR instead of build/bin (implies --no-build)
  --run-dir DIR    where the cluster file, keys, data directories, logs and pid files
                   go (default: run/ at the top of the repository). Its keys, data
                   and logs are wiped at the start of each demo.
EOF
}

# ---------------------------------------------------------------- arguments

keep_running=0
do_build=1
do_stop=0
run_dir_arg=""
bin_dir_arg=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --keep-running) keep_running=1 ;;
        --no-build) do_build=0 ;;
        --stop) do_stop=1 ;;
        --run-dir)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            run_dir_arg=$2
            shift
            ;;
        --bin-dir)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            bin_dir_arg=$2
            do_build=0
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run-cluster: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# Resolve the run directory against the caller's directory, then work from the repository's top.
if [[ -n $run_dir_arg ]]; then
    mkdir -p "$run_dir_arg"
    run_dir_arg=$(cd "$run_dir_arg" && pwd)
fi
if [[ -n $bin_dir_arg ]]; then
    bin_dir_arg=$(cd "$bin_dir_arg" && pwd)
fi
cd "$(dirname "$0")/.."
repo=$(pwd)
run=${run_dir_arg:-$repo/run}
bin=${bin_dir_arg:-$repo/build/bin}
cfg=$run/cluster.toml
pids=$run/pids
# CURVE key pairs (NAME.key secret, mode 0600; NAME.pub public), made afresh for each demo.
keys=$run/keys

brokers=(A B C)
declare -A broker_port=([A]=5670 [B]=5680 [C]=5690)
examples=(publisher subscriber operator)
# The examples this run started (an example that cannot take a key is skipped on a CURVE cluster).
started_examples=()

# ---------------------------------------------------------------- helpers

# Milliseconds on a monotonic-enough clock (EPOCHREALTIME is bash 5; strip the locale's decimal mark).
now_ms() {
    local t=${EPOCHREALTIME//[!0-9]/}
    echo $((t / 1000))
}

banner() {
    echo
    echo "=============================================================================="
    echo "== $*"
    echo "=============================================================================="
}

note() { echo "-- $*"; }

# A path as the narration shows it: relative to the repository when inside it.
rel() { echo "${1#"$repo"/}"; }

die() {
    echo "run-cluster: FAILED: $*" >&2
    exit 1
}

# True while the process runs (a zombie, dead but not yet reaped, counts as gone).
alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    stat=${stat//[[:space:]]/}
    [[ -n $stat && $stat != Z* ]]
}

# True when PID is alive and is one of our programs (a pid file may outlive its process).
is_ours() {
    alive "$1" && grep -qa 'starbus' "/proc/$1/cmdline" 2>/dev/null
}

# The starbus CLI on the demo's cluster file.
sb() { "$bin/starbus" --cluster "$cfg" "$@"; }

# Shows a CLI call and its output; never fails (the caller checks what it needs).
# Sets $last_rc and $last_out (stdout and stderr together).
show() {
    echo "\$ starbus$(printf ' %q' "$@")"
    last_rc=0
    last_out=$(sb "$@" 2>&1) || last_rc=$?
    if [[ -n $last_out ]]; then printf '%s\n' "$last_out"; fi
    if [[ $last_rc -ne 0 ]]; then echo "(exit status $last_rc)"; fi
    return 0
}

# Shows a CLI call and fails the demo unless it exits with WANT.
expect() {
    local want=$1
    shift
    show "$@"
    [[ $last_rc -eq $want ]] || die "'starbus $*' exited with $last_rc, expected $want"
}

# `starbus status --json`, compact, or "" when it gave no JSON.
# The filters below accept either a JSON array of brokers or an object holding one in "brokers";
# a broker counts when it answered (reachable is not false); its state is the FSM state's name
# ("state", when a string) or else its role.
status_json() {
    local out
    out=$(sb --timeout-ms 500 status --json 2>/dev/null) || true
    jq -c . <<<"$out" 2>/dev/null || true
}

jq_brokers='
    def brokers: (if type == "array" then . elif type == "object" and has("brokers") then .brokers else [] end)
                 | map(select(type == "object" and .reachable != false));
    def state: if (.state | type) == "string" then .state else (.role // "") end;'

# The state (role) of broker NAME in the latest status, or "".
state_of() {
    local json
    json=$(status_json)
    [[ -n $json ]] || return 0
    jq -r --arg n "$1" "$jq_brokers"' [brokers[] | select(.name == $n) | state][0] // ""' \
        <<<"$json"
}

# True when every broker answers and all have applied the same last change (seq never repeats
# across epochs; a broker's own epoch in `status` differs from broker to broker).
converged() {
    local json
    json=$(status_json)
    [[ -n $json ]] || return 1
    jq -e --argjson n "${#brokers[@]}" "$jq_brokers"'
        [brokers[] | select(.seq != null)] as $b
        | ($b | length) == $n and ([$b[] | .seq] | unique | length) == 1' \
        <<<"$json" >/dev/null
}

# wait_until DESCRIPTION SECONDS CHECK [NUDGE]: polls CHECK every 200 ms until it
# succeeds; NUDGE (if given) runs about once a second, e.g. a client request that
# lets the brokers vote. Fails the demo at the deadline. Also fails as soon as a
# broker that should be running has died.
wait_until() {
    local what=$1 seconds=$2 check=$3 nudge=${4:-}
    local start deadline last_nudge=0 now
    start=$(now_ms)
    deadline=$((start + seconds * 1000))
    note "waiting (at most ${seconds}s) until $what"
    while true; do
        if $check; then
            note "$what: after $(($(now_ms) - start)) ms"
            return 0
        fi
        now=$(now_ms)
        ((now < deadline)) || die "timed out after ${seconds}s waiting until $what"
        check_brokers_alive
        if [[ -n $nudge ]] && ((now - last_nudge >= 1000)); then
            $nudge
            last_nudge=$(now_ms)
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------- processes

# name -> pid of every process this run started and has not yet seen exit.
declare -A child_pid=()

# start_process NAME LOG COMMAND...: runs COMMAND in the background in a new
# session (so a Ctrl-C on the terminal reaches this script, which then stops it
# with SIGTERM) and records its pid in $pids/NAME.pid for --stop.
start_process() {
    local name=$1 log=$2
    shift 2
    mkdir -p "$pids"
    # Without job control the child is no process-group leader, so setsid does
    # not fork and $! is the program's own pid.
    setsid "$@" </dev/null >>"$log" 2>&1 &
    local pid=$!
    child_pid[$name]=$pid
    echo "$pid" >"$pids/$name.pid"
    note "started $name (pid $pid), log ${log#"$repo"/}"
}

start_broker() {
    local name=$1
    mkdir -p "$run/data/$name"
    start_process "broker-$name" "$run/$name.log" \
        "$bin/starbus-broker" --cluster "$cfg" --name "$name" --data-dir "$run/data/$name" --key "$keys/$name.key"
}

# keygen NAME: a key pair in $keys, narrated.
keygen() {
    echo "\$ starbus keygen $1 --dir $(rel "$keys")"
    "$bin/starbus" keygen "$1" --dir "$(rel "$keys")" || die "'starbus keygen $1' failed"
}

# The public key (Z85, 40 characters) of $keys/NAME.pub, as the cluster file wants it.
public_key() {
    local key
    key=$(sed -n 's/^[[:space:]]*public-key = "\(.*\)"[[:space:]]*$/\1/p' "$keys/$1.pub")
    [[ ${#key} -eq 40 ]] || die "no public-key line in $keys/$1.pub"
    echo "$key"
}

# True when example program NAME can use a CURVE key: its --help mentions STARBUS_KEY.
example_takes_key() {
    "$bin/starbus-example-$1" --help 2>&1 | grep -q STARBUS_KEY
}

# The brokers that should be running (those started and not deliberately killed) must be.
check_brokers_alive() {
    local name pid rc
    for name in "${brokers[@]}"; do
        pid=${child_pid[broker-$name]:-}
        [[ -n $pid ]] || continue
        if ! alive "$pid"; then
            rc=0
            wait "$pid" 2>/dev/null || rc=$?
            unset "child_pid[broker-$name]"
            rm -f "$pids/broker-$name.pid"
            die "broker $name (pid $pid) exited unexpectedly with status $rc"
        fi
    done
}

# stop_pid NAME PID SECONDS: SIGTERM, wait for the exit with a deadline, then
# SIGKILL. Prints how it ended. Returns 0 when it exited with status 0 after the
# SIGTERM (for a process that is not our child: when it exited in time), 1 when
# it exited with another status, 2 when it had exited before, 3 when it needed
# the SIGKILL. Sets $stopped_status to the exit status when known.
stopped_status=0
stop_pid() {
    local name=$1 pid=$2 seconds=$3 deadline rc=0
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || rc=$?
        stopped_status=$rc
        echo "   $name (pid $pid) had already exited (status $rc)"
        return 2
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(now_ms) + seconds * 1000))
    while alive "$pid" && (($(now_ms) < deadline)); do
        sleep 0.1
    done
    if alive "$pid"; then
        echo "   $name (pid $pid) still running ${seconds}s after SIGTERM: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 3
    fi
    wait "$pid" 2>/dev/null || rc=$?
    stopped_status=$rc
    # `wait` answers 127 for a process that is not our child (the --stop case).
    if [[ $rc -eq 127 ]] && ! [[ -v "child_pid[$name]" ]]; then rc=0; fi
    echo "   $name (pid $pid) exited with status $rc after SIGTERM"
    [[ $rc -eq 0 ]] || return 1
}

# Stops every process this run started (examples first, then brokers).
stop_children() {
    local seconds=$1 name ok=0
    for name in "${examples[@]}" "${brokers[@]/#/broker-}"; do
        [[ -v "child_pid[$name]" ]] || continue
        stop_pid "$name" "${child_pid[$name]}" "$seconds" || ok=1
        unset "child_pid[$name]"
        rm -f "$pids/$name.pid"
    done
    return $ok
}

# The brokers' logs first (30 lines each), then the examples' (10 lines each).
print_log_tails() {
    local f lines
    for f in "${brokers[@]/%/.log}" "${examples[@]/%/.log}"; do
        f=$run/$f
        [[ -e $f ]] || continue
        lines=10
        [[ $f == */[A-Z].log ]] && lines=30
        echo
        echo "---- last $lines lines of ${f#"$repo"/} ----"
        tail -n "$lines" "$f"
    done
}

finished=0
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ $finished -eq 0 || $rc -ne 0 ]]; then
        [[ $rc -ne 0 ]] || rc=1
        print_log_tails >&2
        if [[ ${#child_pid[@]} -gt 0 ]]; then
            echo >&2
            echo "run-cluster: stopping the processes this run started" >&2
            stop_children 5 >&2 || true
        fi
        if [[ $rc -eq 130 || $rc -eq 143 ]]; then
            echo "run-cluster: interrupted; logs and data are in ${run#"$repo"/}/" >&2
        else
            echo "run-cluster: FAILED (exit status $rc); logs and data are in ${run#"$repo"/}/" >&2
        fi
    elif [[ $keep_running -eq 0 && ${#child_pid[@]} -gt 0 ]]; then
        stop_children 5 || true
    fi
    exit "$rc"
}

# ---------------------------------------------------------------- --stop

if [[ $do_stop -eq 1 ]]; then
    shopt -s nullglob
    files=("$pids"/*.pid)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "run-cluster: nothing to stop (no pid files in ${run#"$repo"/}/pids)"
        exit 0
    fi
    failed=0
    for f in "${files[@]}"; do
        name=$(basename "$f" .pid)
        pid=$(<"$f")
        if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
            stop_pid "$name" "$pid" 15 || failed=1
        else
            echo "   $name: not running"
        fi
        rm -f "$f"
    done
    [[ $failed -eq 0 ]] && echo "run-cluster: stopped" || echo "run-cluster: stopped (see above)"
    exit "$failed"
fi

# ---------------------------------------------------------------- build

if [[ $do_build -eq 1 ]]; then
    banner "Installing dependencies and building (Release, ccache) into build/"
    scripts/install-deps.sh
    # Examples on explicitly: scripts/test.sh configures the same build/ with them off.
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DSTARBUS_BUILD_EXAMPLES=ON
    # Only what the demo runs: the tests are built by scripts/test.sh.
    cmake --build build -j2 --target starbus-broker starbus \
        starbus-example-publisher starbus-example-subscriber starbus-example-operator
fi
for prog in starbus-broker starbus starbus-example-publisher starbus-example-subscriber starbus-example-operator; do
    [[ -x $bin/$prog ]] || die "$bin/$prog is missing: build first (run without --no-build)"
done
command -v jq >/dev/null || die "jq is missing: run scripts/install-deps.sh"

# ---------------------------------------------------------------- fresh run directory

shopt -s nullglob
for f in "$pids"/*.pid; do
    pid=$(<"$f")
    if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
        die "a demo is still running from ${run#"$repo"/} (pid $pid): stop it with scripts/run-cluster.sh --stop${run_dir_arg:+ --run-dir $run}"
    fi
    rm -f "$f"
done
shopt -u nullglob
for name in "${brokers[@]}"; do
    p=${broker_port[$name]}
    for port in "$p" $((p + 1)) $((p + 2)); do
        if [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
            die "port $port (broker $name) is in use: is another broker running? (scripts/run-cluster.sh --stop)"
        fi
    done
done

mkdir -p "$run"
rm -rf "$run/data" "$run/mirror" "$run/keys" "$pids"
rm -f "$run"/*.log
mkdir -p "$run/data" "$pids"
# Secret keys live here: nobody else may list or read them.
mkdir -m 700 "$keys"

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The examples and any `starbus` call find the cluster file here too.
export STARBUS_CLUSTER=$cfg

# ---------------------------------------------------------------- the demo

banner "1. Keys: one CURVE key pair per broker and per client"
note "each broker proves who it is with its secret key (NAME.key, mode 0600, never shared);"
note "the cluster file lists every broker's public key, and the clients it starts with"
for name in "${brokers[@]}" admin examples reader stranger; do
    keygen "$name"
done
note "'reader' is granted below, by the admin; 'stranger' never is"
declare -A pub=()
for name in "${brokers[@]}" admin examples; do
    pub[$name]=$(public_key "$name")
done

cat >"$cfg" <<EOF
# starbus demo cluster (written by scripts/run-cluster.sh).
# Brokers in rank order; A, the first, is the primary configuration server.
# Each uses P (requests), P+1 (publications), P+2 (heartbeats), all CURVE.
heartbeat_ms = 250          # a broker silent for 3 heartbeats (750 ms) is dead

[security]
mode = "curve"              # every port encrypted; only the keys below (and granted ones) get in

[[broker]]
name = "A"
endpoint = "tcp://127.0.0.1:5670"
public_key = "${pub[A]}"

[[broker]]
name = "B"
endpoint = "tcp://127.0.0.1:5680"
public_key = "${pub[B]}"

[[broker]]
name = "C"
endpoint = "tcp://127.0.0.1:5690"
public_key = "${pub[C]}"

# The initial access list; the admin grants more clients with \`starbus access grant\`.
[[client]]
name = "admin"
role = "admin"
public_key = "${pub[admin]}"

[[client]]
name = "examples"           # the example programs: operational changes and the bus
role = "writer"
public_key = "${pub[examples]}"
EOF

# Every \`starbus\` call below acts as the admin, unless it gives another key with --key.
export STARBUS_KEY=$keys/admin.key

banner "2. Starting brokers A, B and C (cluster file $(rel "$cfg"))"
cat "$cfg"
echo
note "below, \`starbus\` stands for: $(rel "$bin")/starbus --cluster $(rel "$cfg"), with STARBUS_KEY=$(rel "$keys")/admin.key"
for name in "${brokers[@]}"; do
    start_broker "$name"
done
a_is_active() { [[ $(state_of A) == active ]]; }
wait_until "A (the primary) is active" 30 a_is_active
show --timeout-ms 2000 status

banner "3. Starting the example publisher, subscriber and operator"
for ex in "${examples[@]}"; do
    if ! example_takes_key "$ex"; then
        note "skipped $ex: starbus-example-$ex cannot take a CURVE key yet (it would need STARBUS_KEY)"
        continue
    fi
    # Reads and writes, nothing more: the examples act as the writer 'examples'.
    start_process "$ex" "$run/$ex.log" env STARBUS_KEY="$keys/examples.key" "$bin/starbus-example-$ex" --cluster "$cfg"
    started_examples+=("$ex")
done

banner "4. A configuration change, an operational change and a file, accepted by A"
expect 0 set --config demo.greeting "hello from the primary"
expect 0 set demo.counter 1
expect 0 get demo.greeting
expect 0 put "$repo/docs/protocol.md" docs/protocol.md
expect 0 ls
note "a mirror keeps ${run#"$repo"/}/mirror identical to the cluster's files, across failovers:"
start_process mirror "$run/mirror.log" "$bin/starbus" --cluster "$cfg" mirror "$run/mirror"
mirror_has_protocol() { cmp -s "$repo/docs/protocol.md" "$run/mirror/docs/protocol.md"; }
wait_until "the mirror holds docs/protocol.md" 30 mirror_has_protocol

banner "5. Roles: the admin grants a reader's key; the reader reads, and may not write (exit 6)"
expect 0 access grant reader reader "$(rel "$keys")/reader.pub"
expect 0 access ls
expect 0 --key "$(rel "$keys")/reader.key" get demo.greeting
expect 6 --key "$(rel "$keys")/reader.key" set demo.counter 100

banner "6. An unknown key gets nothing, not even a status: the handshake fails (exit 6)"
note "'stranger' has a key pair, but nobody granted it:"
expect 6 --key "$(rel "$keys")/stranger.key" get demo.greeting
note "what A logged (it answers no request of that key):"
grep -m 1 'refused a CURVE handshake' "$run/A.log" | sed 's/^/   /' || die "A did not log the refused handshake"

banner "7. kill -9 the primary A (pid ${child_pid[broker-A]})"
pid_a=${child_pid[broker-A]}
# Out of the shell's job table first, so that it does not report "Killed" (it still reaps A).
disown "$pid_a" 2>/dev/null || true
kill -KILL "$pid_a"
unset "child_pid[broker-A]"
rm -f "$pids/broker-A.pid"
a_is_gone() { ! alive "$pid_a"; }
wait_until "A's process is gone" 10 a_is_gone
note "A is gone. The backup B takes over only when a client asks for service (the client vote):"
note "each \`starbus set\` below is such a request."

vote_counter=1
client_vote() {
    vote_counter=$((vote_counter + 1))
    echo "\$ starbus --timeout-ms 1500 set demo.counter $vote_counter"
    local rc=0
    sb --timeout-ms 1500 set demo.counter "$vote_counter" >/dev/null 2>&1 || rc=$?
    echo "  (exit status $rc)"
}
b_is_active() { [[ $(state_of B) == active ]]; }
wait_until "B is active" 30 b_is_active client_vote
show --timeout-ms 2000 status

banner "8. B serves: an operational change is accepted"
vote_counter=$((vote_counter + 1))
expect 0 set demo.counter "$vote_counter"
expect 0 get demo.greeting

banner "9. ...but a configuration change is refused while the primary A is down (exit 3)"
expect 3 set --config demo.greeting "changed while A is down"
note "a file change is a configuration change too:"
expect 3 put "$repo/README.md" docs/README.md
note "files are still served by B:"
expect 0 fetch docs/protocol.md "$run/protocol-from-B.md"
cmp -s "$repo/docs/protocol.md" "$run/protocol-from-B.md" || die "the file fetched from B differs from docs/protocol.md"

banner "10. Restarting A: it resynchronises from B and takes its role back"
start_broker A
wait_until "A is active again" 60 a_is_active client_vote
show --timeout-ms 2000 status
expect 0 set --config demo.greeting "hello again from the primary"
expect 0 put "$repo/README.md" docs/README.md
mirror_has_readme() { cmp -s "$repo/README.md" "$run/mirror/docs/README.md"; }
wait_until "the mirror holds docs/README.md too" 30 mirror_has_readme

banner "11. Stopping the example clients; every replica converges"
# The operator keeps writing: stop the writers first, so the replicas can be compared.
for ex in "${started_examples[@]}"; do
    rc=0
    stop_pid "$ex" "${child_pid[$ex]}" 10 || rc=$?
    unset "child_pid[$ex]"
    rm -f "$pids/$ex.pid"
    # One that failed early broke the demo; one that finished its work, or exited roughly on SIGTERM,
    # is only worth a note.
    if [[ $rc -eq 2 && $stopped_status -ne 0 ]]; then
        die "the example $ex failed with status $stopped_status (see ${run#"$repo"/}/$ex.log)"
    fi
    [[ $rc -eq 0 || $rc -eq 2 ]] || note "the example $ex did not exit cleanly on SIGTERM (see ${run#"$repo"/}/$ex.log)"
done
if [[ -e $run/subscriber.log ]]; then
    note "what the subscriber received last (${run#"$repo"/}/subscriber.log):"
    tail -n 5 "$run/subscriber.log" | sed 's/^/   /'
fi
wait_until "A, B and C have applied the same changes" 30 converged
show --timeout-ms 2000 status
dumps=()
for name in "${brokers[@]}"; do
    show dump --from "$name"
    [[ $last_rc -eq 0 ]] || die "'starbus dump --from $name' exited with $last_rc"
    dumps+=("$last_out")
done
for i in 1 2; do
    if [[ ${dumps[$i]} != "${dumps[0]}" ]]; then
        diff <(printf '%s\n' "${dumps[0]}") <(printf '%s\n' "${dumps[$i]}") || true
        die "the dump of ${brokers[$i]} differs from the dump of A"
    fi
done
note "the dumps of A, B and C are identical"
listings=()
for name in "${brokers[@]}"; do
    show ls --from "$name"
    [[ $last_rc -eq 0 ]] || die "'starbus ls --from $name' exited with $last_rc"
    listings+=("$last_out")
done
for i in 1 2; do
    [[ ${listings[$i]} == "${listings[0]}" ]] || die "the files of ${brokers[$i]} differ from the files of A"
done
note "A, B and C hold the same files; the mirror's copies (sha256sum):"
(cd "$run/mirror" && sha256sum docs/*) | sed 's/^/   /'
rc=0
stop_pid mirror "${child_pid[mirror]}" 10 || rc=$?
[[ $rc -eq 0 ]] || note "the mirror did not exit cleanly on SIGTERM (see ${run#"$repo"/}/mirror.log)"
unset "child_pid[mirror]"
rm -f "$pids/mirror.pid"

if [[ $keep_running -eq 1 ]]; then
    banner "Done. The brokers are still running"
    cat <<EOF
   cluster file:  ${cfg#"$repo"/}
   keys:          ${keys#"$repo"/}/ (admin.key is the admin's secret key)
   logs:          ${run#"$repo"/}/A.log B.log C.log
   try:           export STARBUS_KEY=${keys#"$repo"/}/admin.key
                  ${bin#"$repo"/}/starbus --cluster ${cfg#"$repo"/} status
                  ${bin#"$repo"/}/starbus --cluster ${cfg#"$repo"/} access ls
   stop them:     scripts/run-cluster.sh --stop${run_dir_arg:+ --run-dir $run}
EOF
    finished=1
    exit 0
fi

banner "12. Stopping the brokers (SIGTERM)"
stop_children 15 || die "a broker did not exit cleanly on SIGTERM"
finished=1
banner "Demo complete"
