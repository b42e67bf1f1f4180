#!/usr/bin/env bash
# File: tests/package/deb_test.sh
# The Debian packages as an operator meets them (packaging/packaging.cmake, docs/deploy.md):
#   1. cpack builds starbus and starbus-dev from BUILD_DIR into a temporary directory;
#   2. dpkg-deb shows what they hold and need: the programs, the unit, the conffile and the
#      libraries' packages in starbus; headers, static libraries and the CMake package in
#      starbus-dev, with the -dev packages a consumer needs;
#   3. dpkg installs both into a fresh root (--root), for real: the dependencies are checked
#      against this machine's installed packages (the fresh root's package database starts as a
#      copy of the host's, so no --force-depends), the conffile is registered, and the postinst
#      runs (chrootless: DPKG_ROOT points it at the fresh root) and makes the user `starbus` and
#      /var/lib/starbus there with systemd-sysusers and systemd-tmpfiles; the host's own
#      /etc/passwd must not change;
#   4. the unit passes `systemd-analyze verify` and keeps its sandboxing
#      (`systemd-analyze security --offline`);
#   5. the installed broker is started the way the unit starts it (its ExecStart line, with the
#      paths moved into the temporary directory and the endpoint moved to a random loopback
#      address): from the packaged cluster file, it serves (the packaged `starbus status` sees A
#      active, a set is read back) and exits 0 on SIGTERM; then with /etc/starbus/keys/A.key (handed
#      over as the credential systemd would make of it) and security mode curve, the unit's line
#      passes --key and an admin's key gets in. systemd_test.sh runs the same unit under systemd.
# Why a fresh root with the host's package list rather than a chroot or a container: a chroot
# needs a Debian base system (debootstrap: network) and a container needs an engine that CI does
# not have; both would only repeat, more slowly, what matters here. The installed programs run
# against the host's libraries, which are the very packages the Depends line names and dpkg just
# found installed.
# Root is not needed: as another user dpkg runs under fakeroot. Exit 77 (CTest's SKIP_RETURN_CODE)
# when a tool is missing. No network: everything listens on 127.x.y.z.
# Usage: deb_test.sh SOURCE_DIR BUILD_DIR        (run by CTest)
set -euo pipefail
build=$2
skip() { echo "deb test: SKIPPED: $*"; exit 77; }
fail() { echo "deb test: FAILED: $*" >&2; exit 1; }
step() { echo "deb test: $* [$((SECONDS - started)) s]"; }
started=$SECONDS

for tool in cpack dpkg dpkg-deb dpkg-query jq; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh installs what this test needs)"
done
[[ -f $build/CPackConfig.cmake ]] || skip "$build has no CPackConfig.cmake (configure it with the root CMakeLists.txt)"
as=()
if [[ $(id -u) -ne 0 ]]; then
    command -v fakeroot >/dev/null || skip "not root and no fakeroot: dpkg cannot install into a fresh root"
    as=(fakeroot)
fi
unset STARBUS_CLUSTER STARBUS_KEY
# dpkg wants the sbin directories (ldconfig, start-stop-daemon) in PATH.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

work=$(mktemp -d "${TMPDIR:-/tmp}/starbus-deb.XXXXXX")
broker_pid=
cleanup() {
    if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then kill -KILL "$broker_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. build the packages -------------------------------------------------------------------
step "cpack -G DEB from $build"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
    { tail -30 "$work/cpack.log"; fail "cpack failed"; }
runtime_deb=$(find "$work/out" -maxdepth 1 -name 'starbus_*.deb')
dev_deb=$(find "$work/out" -maxdepth 1 -name 'starbus-dev_*.deb')
[[ -f $runtime_deb && -f $dev_deb ]] || { ls -l "$work/out"; fail "cpack made no starbus_*.deb and starbus-dev_*.deb"; }

# --- 2. what they hold and need -------------------------------------------------------------
field() { dpkg-deb --field "$1" "$2"; }
depends=$(field "$runtime_deb" Depends)
echo "deb test: starbus $(field "$runtime_deb" Version) Depends: $depends"
for lib in libc6 libstdc++6 libzmq5 libssl3 libtomlplusplus3 libspdlog; do
    [[ ", $depends" == *", $lib"* ]] || fail "starbus does not depend on $lib (dpkg-shlibdeps missing?): $depends"
done
dev_depends=$(field "$dev_deb" Depends)
echo "deb test: starbus-dev Depends: $dev_depends"
version=$(field "$runtime_deb" Version)
for dep in "starbus (= $version)" libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libtomlplusplus-dev libssl-dev; do
    [[ ", $dev_depends," == *", $dep,"* ]] || fail "starbus-dev does not depend on '$dep': $dev_depends"
done
dpkg-deb --control "$runtime_deb" "$work/control"
grep -qx /etc/starbus/cluster.toml "$work/control/conffiles" || fail "/etc/starbus/cluster.toml is not a conffile"
for script in postinst prerm postrm; do
    [[ -x $work/control/$script ]] || fail "the maintainer script $script is missing or not executable"
done
dpkg-deb --contents "$runtime_deb" | awk '{print $NF}' | sed 's#^\./#/#' >"$work/runtime.list"
dpkg-deb --contents "$dev_deb" | awk '{print $NF}' | sed 's#^\./#/#' >"$work/dev.list"
for f in /usr/bin/starbus-broker /usr/bin/starbus /lib/systemd/system/starbus-broker@.service \
         /etc/starbus/cluster.toml /usr/lib/sysusers.d/starbus.conf /usr/lib/tmpfiles.d/starbus.conf \
         /usr/share/doc/starbus/copyright; do
    grep -qx -- "$f" "$work/runtime.list" || fail "starbus lacks $f"
done
grep -qE '^/usr/include/|\.a$|/cmake/' "$work/runtime.list" && fail "starbus holds development files: $(grep -E '^/usr/include/|\.a$|/cmake/' "$work/runtime.list" | head -3)"
for f in /usr/include/starbus/client/client.hpp /usr/lib/cmake/starbus/starbusConfig.cmake \
         /usr/lib/cmake/starbus/starbusTargets.cmake /usr/share/doc/starbus-dev/copyright; do
    grep -qx -- "$f" "$work/dev.list" || fail "starbus-dev lacks $f"
done
grep -qE '/libstarbus_client\.a$' "$work/dev.list" || fail "starbus-dev lacks libstarbus_client.a"
grep -qE '^/usr/bin/|^/etc/' "$work/dev.list" && fail "starbus-dev holds programs or configuration"

# --- 3. install into a fresh root -------------------------------------------------------------
step "dpkg --root: install starbus and starbus-dev into a fresh root"
root=$work/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
# What this machine has installed is what the fresh root's dependencies are checked against. Empty
# file lists: dpkg only needs to know the packages are there, and would warn about each missing list.
cp /var/lib/dpkg/status "$admin/status"
dpkg-query --admindir="$admin" --show --showformat='${binary:Package}\n' | sed 's/$/.list/' |
    (cd "$admin/info" && xargs touch)
host_passwd=$(sha256sum /etc/passwd /etc/group)
"${as[@]}" dpkg --root="$root" --force-not-root --force-script-chrootless --log="$work/dpkg.log" \
    --install "$runtime_deb" "$dev_deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg could not install the packages"; }
[[ $(sha256sum /etc/passwd /etc/group) == "$host_passwd" ]] || fail "installing into the fresh root changed the host's /etc/passwd or /etc/group"
for p in starbus starbus-dev; do
    st=$(dpkg-query --admindir="$admin" --show --showformat='${Status}' "$p")
    [[ $st == "install ok installed" ]] || { cat "$work/dpkg.out"; fail "$p is '$st' in the fresh root"; }
done
dpkg-query --admindir="$admin" --show --showformat='${Conffiles}\n' starbus | grep -q '^ /etc/starbus/cluster.toml ' ||
    fail "dpkg did not register /etc/starbus/cluster.toml as a conffile"
grep -q '^starbus:x:[0-9]*:[0-9]*:.*:/var/lib/starbus:/usr/sbin/nologin$' "$root/etc/passwd" ||
    { cat "$work/dpkg.out"; fail "the postinst made no system user starbus in the fresh root"; }
[[ -d $root/var/lib/starbus ]] || fail "the postinst made no /var/lib/starbus"
[[ $(stat -c %a "$root/var/lib/starbus") == 750 ]] || fail "/var/lib/starbus is mode $(stat -c %a "$root/var/lib/starbus"), not 750"
if [[ $(id -u) -eq 0 ]]; then  # under fakeroot, ownership is make-believe
    ids=$(awk -F: '$1 == "starbus" {print $3 ":" $4}' "$root/etc/passwd")
    [[ $(stat -c %u:%g "$root/var/lib/starbus") == "$ids" ]] || fail "/var/lib/starbus is not owned by starbus ($ids)"
fi

# --- 4. the unit -------------------------------------------------------------------------------
unit=$root/lib/systemd/system/starbus-broker@.service
for line in 'User=starbus' 'Restart=on-failure' 'StateDirectory=starbus/%i' 'NoNewPrivileges=yes' \
            'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
            'KillSignal=SIGTERM' 'LimitNOFILE=65536' 'EnvironmentFile=-/etc/starbus/%i.env' \
            'LoadCredential=broker.key:/etc/starbus/keys/%i.key' 'SetCredential=broker.key:none'; do
    grep -qxF -- "$line" "$unit" || fail "the unit lacks '$line'"
done
if command -v systemd-analyze >/dev/null; then
    # Verified as a copy beside nothing else: inside the fresh root, /bin/sh (ExecStart) is missing.
    mkdir "$work/unit"
    cp "$unit" "$work/unit/"
    # It exits 0 on a line it ignores ("Invalid syntax, ignoring"): any word about the unit fails too.
    if ! systemd-analyze verify "$work/unit/starbus-broker@A.service" >"$work/verify.log" 2>&1 ||
        grep -q 'starbus-broker@' "$work/verify.log"; then
        cat "$work/verify.log"
        fail "systemd-analyze verify rejects the unit"
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
        # Exposure 1.4 today (0 best, 10 worst); 2.0 leaves room for one option more, not for losing the sandbox.
        systemd-analyze security --offline=yes --threshold=20 "$work/unit/starbus-broker@A.service" >"$work/security.log" 2>&1 ||
            { grep -E '✗|Overall' "$work/security.log"; fail "the unit's sandboxing got weaker (systemd-analyze security)"; }
        echo "deb test: systemd-analyze: $(grep -o 'Overall exposure level.*' "$work/security.log")"
    fi
else
    echo "deb test: systemd-analyze is not installed: the unit is not verified"
fi

# --- 5. start the installed broker as the unit does --------------------------------------------
# The unit's ExecStart, as systemd would run it for starbus-broker@A: %i is A, "$$" is "$", and the
# words of $STARBUS_BROKER_ARGS follow the script. Its paths move into the temporary directory. Its
# credential broker.key is what systemd would make of LoadCredential= and SetCredential=: a copy of
# the key file when it exists, else the SetCredential= value.
etc=$work/etc/starbus
state=$work/var/lib/starbus
credentials=$work/credentials
mkdir -p "$etc" "$state/A"
chmod 750 "$state/A"
unit_line() { sed -n "s/^$1=//p" "$unit"; }
in_work() {
    local s=${1//%i/A}
    s=${s//\$\$/\$}
    s=${s//\/usr\/bin\/starbus-broker/$root\/usr\/bin\/starbus-broker}
    s=${s//\/etc\/starbus\//$etc\/}
    s=${s//\/var\/lib\/starbus\//$state\/}
    printf '%s' "$s"
}
exec_start=$(in_work "$(unit_line ExecStart)")
key_source=$(in_work "$(unit_line LoadCredential)")
key_source=${key_source#broker.key:}
key_fallback=$(unit_line SetCredential)
key_fallback=${key_fallback#broker.key:}
[[ -n $exec_start && -n $key_source && -n $key_fallback ]] || fail "the unit lacks ExecStart, LoadCredential or SetCredential"

host="127.$((RANDOM % 254 + 1)).$((RANDOM % 254 + 1)).$((RANDOM % 254 + 1))"
port=$((20000 + (RANDOM * 32768 + RANDOM) % 39000))
packaged=$root/etc/starbus/cluster.toml
grep -qx 'endpoint = "tcp://127.0.0.1:5670"' "$packaged" || fail "the packaged cluster file does not run A on tcp://127.0.0.1:5670"
grep -qx 'mode = "none"' "$packaged" || fail "the packaged cluster file is not in security mode none"
sed "s#^endpoint = \"tcp://127.0.0.1:5670\"#endpoint = \"tcp://$host:$port\"#" "$packaged" >"$etc/cluster.toml"
starbus=("$root/usr/bin/starbus" --cluster "$etc/cluster.toml")

start_broker() {  # STARBUS_BROKER_ARGS words...
    rm -rf "$credentials"
    mkdir -m 700 "$credentials"
    if [[ -f $key_source ]]; then
        install -m 0400 "$key_source" "$credentials/broker.key"
    else
        printf '%s' "$key_fallback" >"$credentials/broker.key"
    fi
    CREDENTIALS_DIRECTORY=$credentials STARBUS_BROKER_ARGS="$*" eval "exec $exec_start" >"$work/broker.log" 2>&1 &
    broker_pid=$!
}
# Polls `starbus status` (each call bounded by its own timeout) until A is active.
wait_active() {  # extra starbus options...
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; fail "the broker exited before serving"; }
        if "${starbus[@]}" "$@" --timeout-ms 1000 status --json 2>/dev/null |
            jq -e '.[0].name == "A" and .[0].state == "active"' >/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    cat "$work/broker.log"
    fail "A is not active 20 s after it started"
}
stop_broker() {
    kill -TERM "$broker_pid"
    local deadline=$((SECONDS + 15))
    while kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$broker_pid" 2>/dev/null && { cat "$work/broker.log"; fail "the broker did not stop within 15 s of SIGTERM"; }
    local rc=0
    wait "$broker_pid" || rc=$?
    broker_pid=
    [[ $rc -eq 0 ]] || { cat "$work/broker.log"; fail "the broker exited $rc on SIGTERM, not 0"; }
    grep -q 'stopped cleanly' "$work/broker.log" || { cat "$work/broker.log"; fail "the broker did not log a clean stop"; }
}
cmdline() { tr '\0' ' ' <"/proc/$broker_pid/cmdline"; }

step "the packaged broker A on tcp://$host:$port, mode none, started by the unit's ExecStart"
start_broker --log-level info
wait_active
args=$(cmdline)
[[ $args == *"--cluster $etc/cluster.toml --name A --data-dir $state/A --log-level info"* && $args != *--key* ]] ||
    fail "the unit's ExecStart ran: $args"
"${starbus[@]}" set packaged yes >/dev/null || fail "starbus set failed"
[[ $("${starbus[@]}" get packaged) == yes ]] || fail "starbus get did not read back the value set"
stop_broker

step "again with /etc/starbus/keys/A.key (the credential broker.key) and security mode curve"
install -d -m 700 "$etc/keys" "$work/client"
"$root/usr/bin/starbus" keygen A --dir "$etc/keys" >/dev/null
"$root/usr/bin/starbus" keygen ops --dir "$work/client" >/dev/null
public() { sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$1"; }
# awk, not sed: a Z85 key may hold '#', '&' or '/'.
awk -v endpoint="tcp://$host:$port" -v key="$(public "$etc/keys/A.pub")" '
    $0 == "mode = \"none\"" { print "mode = \"curve\""; next }
    $0 == "endpoint = \"tcp://127.0.0.1:5670\"" { print "endpoint = \"" endpoint "\""; print "public_key = \"" key "\""; next }
    { print }' "$packaged" >"$etc/cluster.toml"
printf '\n[[client]]\nname = "ops"\nrole = "admin"\npublic_key = "%s"\n' "$(public "$work/client/ops.pub")" >>"$etc/cluster.toml"
start_broker
wait_active --key "$work/client/ops.key"
[[ $(cmdline) == *"--key $credentials/broker.key"* ]] || fail "the unit's ExecStart did not pass the key: $(cmdline)"
rc=0
"${starbus[@]}" --timeout-ms 3000 status >/dev/null 2>&1 || rc=$?
[[ $rc -eq 6 ]] || fail "starbus without a key on a curve cluster exited $rc, not 6"
stop_broker

step "passed"
