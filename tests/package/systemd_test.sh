#!/usr/bin/env bash
# File: tests/package/systemd_test.sh
# The starbus package under a real systemd: what deb_test.sh cannot show, since only systemd
# applies the unit's sandbox (a system call, socket family or path it forbids kills the broker
# there and nowhere else: libzmq's netlink socket once did), its credentials and its restarts.
# The host's own root, behind a throw-away overlay (its writes land in a tmpfs), boots as a
# systemd-nspawn container with a private network and runs check.sh below as its only job:
#   dpkg -i the package (its dependencies are the host's packages); starbus-broker@A from the
#   packaged cluster file serves as the user starbus; with /etc/starbus/keys/A.key, mode curve and
#   /etc/starbus/A.env it gets --key (its credential) and the extra arguments (--http when the
#   broker has it: /livez and /readyz must answer 200 from inside the sandbox); SIGTERM stops it
#   with status 0; SIGKILL restarts it; a bad name (exit 2) is not restarted; dpkg -r stops it;
#   dpkg -P keeps the data. The host's systemd (if any) is never asked to do anything.
# Needs root (mounts, nspawn) and systemd-container; exit 77 (CTest's SKIP_RETURN_CODE) without.
# About 25 s. Usage: systemd_test.sh SOURCE_DIR BUILD_DIR        (run by CTest)
set -euo pipefail
build=$2
skip() { echo "systemd test: SKIPPED: $*"; exit 77; }
fail() { echo "systemd test: FAILED: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "not root: booting a container needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn is not installed (package systemd-container)"
[[ -x /lib/systemd/systemd ]] || skip "systemd is not installed"
for tool in cpack mountpoint; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done
[[ -f $build/CPackConfig.cmake ]] || skip "$build has no CPackConfig.cmake"
# The container is a copy of this machine: one with starbus installed would test an upgrade instead.
if dpkg-query --show --showformat='${Status}' starbus 2>/dev/null | grep -q 'ok installed'; then
    skip "the starbus package is installed on this machine"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/starbus-systemd.XXXXXX")
cleanup() {
    for m in "$work/root" "$work/layers"; do
        if mountpoint -q "$m"; then umount "$m" 2>/dev/null || umount -l "$m"; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/root" "$work/layers" "$work/debs" "$work/out" "$work/check"

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1 ||
    { tail -30 "$work/cpack.log"; fail "cpack failed"; }
cp "$work"/cpack/starbus_*.deb "$work/debs/"

# The host's root, read-only underneath, with every write in a tmpfs of our own.
mount -t tmpfs -o size=512m starbus-check "$work/layers" || skip "cannot mount a tmpfs here"
mkdir "$work/layers/upper" "$work/layers/work"
mount -t overlay starbus-check -o "lowerdir=/,upperdir=$work/layers/upper,workdir=$work/layers/work" "$work/root" ||
    skip "cannot mount an overlay of / here"

cat >"$work/check/starbus-check.service" <<'EOF'
[Unit]
Description=starbus package check (tests/package/systemd_test.sh)
After=basic.target
[Service]
Type=oneshot
ExecStart=/check/check.sh
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
cat >"$work/check/check.sh" <<'EOF'
#!/bin/bash
# Runs inside the container; the last line of /out/log is "RESULT ok" or "RESULT failed: why".
exec >/out/log 2>&1
set -u
export STARBUS_CLUSTER=/etc/starbus/cluster.toml
fail() { echo "--- journal"; journalctl -u 'starbus-broker@*' --no-pager | tail -30; echo "RESULT failed: $*"; exit 1; }
show() { systemctl show -p "$2" --value "starbus-broker@$1"; }
until_true() {  # SECONDS COMMAND...: polls COMMAND (a function, evaluated anew each time) until it succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.2; done
}
active() { starbus "$@" --timeout-ms 500 status --json 2>/dev/null | jq -e '.[0].state == "active"' >/dev/null; }
cmdline() { tr '\0' ' ' <"/proc/$(show A MainPID)/cmdline"; }

dpkg -i /debs/starbus_*.deb || fail "dpkg -i"
systemctl start starbus-broker@A || fail "systemctl start"
until_true 20 active || fail "A is not active under systemd"
[[ $(ps -o user= -p "$(show A MainPID)") == starbus ]] || fail "the broker does not run as starbus"
[[ $(cmdline) != *--key* ]] || fail "--key without a key file: $(cmdline)"
starbus set k v && [[ $(starbus get k) == v ]] || fail "set and get"

install -d -m 0700 /etc/starbus/keys /root/keys
starbus keygen A --dir /etc/starbus/keys >/dev/null && starbus keygen ops --dir /root/keys >/dev/null || fail "keygen"
public() { sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$1"; }
awk -v key="$(public /etc/starbus/keys/A.pub)" '
    $0 == "mode = \"none\"" { print "mode = \"curve\""; next }
    $0 == "endpoint = \"tcp://127.0.0.1:5670\"" { print; print "public_key = \"" key "\""; next }
    { print }' /etc/starbus/cluster.toml >/tmp/cluster.toml
printf '\n[[client]]\nname = "ops"\nrole = "admin"\npublic_key = "%s"\n' "$(public /root/keys/ops.pub)" >>/tmp/cluster.toml
cp /tmp/cluster.toml /etc/starbus/cluster.toml
# With the HTTP endpoint (when this broker has it): its thread runs in the sandbox too.
http=
if starbus-broker --help | grep -q -- '--http HOST:PORT'; then http=" --http 127.0.0.1:8080"; fi
echo "STARBUS_BROKER_ARGS=\"--log-level debug$http\"" >/etc/starbus/A.env
systemctl restart starbus-broker@A || fail "systemctl restart"
until_true 20 active --key /root/keys/ops.key || fail "A is not active with its key"
http_200() {  # PATH: GET it from the broker's HTTP endpoint, expect 200
    exec 3<>/dev/tcp/127.0.0.1/8080 || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
    local status
    read -r status <&3
    exec 3<&-
    [[ $status == *" 200"* ]]
}
if [[ -n $http ]]; then
    until_true 10 http_200 /livez || fail "GET /livez is not 200 under systemd"
    until_true 10 http_200 /readyz || fail "GET /readyz is not 200 under systemd"
    echo "HTTP endpoint: /livez and /readyz 200"
fi
[[ $(cmdline) == *"--key /run/credentials/starbus-broker@A.service/broker.key --log-level debug"* ]] ||
    fail "the key and A.env were not passed: $(cmdline)"
[[ $(starbus --key /root/keys/ops.key get k) == v ]] || fail "the value did not survive the restart"

systemctl stop starbus-broker@A
[[ $(show A Result) == success && $(show A ExecMainStatus) == 0 ]] || fail "SIGTERM: $(show A Result), status $(show A ExecMainStatus)"
systemctl start starbus-broker@A
systemctl kill -s KILL starbus-broker@A
restarted() { (($(show A NRestarts) >= 1)); }
until_true 10 restarted || fail "a killed broker was not restarted"
until_true 20 active --key /root/keys/ops.key || fail "A is not active again after its restart"

systemctl start starbus-broker@Z
z_failed() { [[ $(show Z ActiveState) == failed ]]; }
until_true 10 z_failed || fail "broker Z, in no cluster file, did not fail"
[[ $(show Z ExecMainStatus) == 2 && $(show Z NRestarts) == 0 ]] || fail "exit 2 was restarted"

dpkg -r starbus || fail "dpkg -r"
[[ $(systemctl is-active starbus-broker@A) != active ]] || fail "dpkg -r left the broker running"
dpkg -P starbus || fail "dpkg -P"
[[ ! -e /etc/starbus/cluster.toml && -f /var/lib/starbus/A/meta && -f /etc/starbus/keys/A.key ]] ||
    fail "purge: the conffile should be gone, the data and the key kept"
if journalctl --no-pager | grep -E 'SIGSYS|Address family not supported|status=6/ABRT'; then
    fail "the sandbox stopped the broker"
fi
echo "RESULT ok"
EOF
chmod 755 "$work/check/check.sh"

echo "systemd test: booting the host's root (overlay) in systemd-nspawn"
rc=0
timeout 150 systemd-nspawn --quiet -D "$work/root" --register=no --keep-unit --private-network \
    --uuid="$(tr -d - </proc/sys/kernel/random/uuid)" \
    --bind="$work/out:/out" --bind-ro="$work/debs:/debs" --bind-ro="$work/check:/check" \
    --bind-ro="$work/check/starbus-check.service:/etc/systemd/system/starbus-check.service" \
    -b systemd.unit=starbus-check.service >"$work/nspawn.log" 2>&1 || rc=$?
result=$(tail -1 "$work/out/log" 2>/dev/null || true)
if [[ $result != "RESULT ok" ]]; then
    [[ -f $work/out/log ]] && tail -60 "$work/out/log"
    tail -20 "$work/nspawn.log"
    fail "${result:-the container ran no check (systemd-nspawn exit $rc)}"
fi
echo "systemd test: passed"
