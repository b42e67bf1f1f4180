#!/usr/bin/env bash
# File: scripts/install-deps.sh
# Installs, from Debian 12's own packages, everything starbus needs to build,
# test and run its demo. Idempotent: a package already installed is left alone,
# and `apt-get update` runs only when something is missing.
# Usage: scripts/install-deps.sh [EXTRA_PACKAGE...]
#   (extra packages: what one script needs beyond these, e.g. scripts/fuzz.sh's clang)
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake ccache pkg-config
    # libraries (headers; the runtime .so packages come along as dependencies)
    libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev catch2
    libtomlplusplus-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libssl-dev libxxhash-dev
    # the broker's HTTP endpoint: the server (cpp-httplib) and the Prometheus exposition format
    libcpp-httplib-dev prometheus-cpp-dev
    # used by scripts/run-cluster.sh: ps (procps), ss (iproute2), reading `status --json` (jq)
    procps iproute2 jq
    # used by the package tests (tests/package): cpack's dpkg-shlibdeps (dpkg-dev), dpkg as a user other
    # than root (fakeroot), the unit's checks and the postinst's systemd-sysusers and systemd-tmpfiles
    # (systemd; nothing starts on the host), the unit under systemd in a container (systemd-container:
    # systemd-nspawn), the Kubernetes manifests' linter (yamllint, with python3-yaml)
    dpkg-dev fakeroot systemd systemd-container yamllint
    "$@"
)

missing=()
for p in "${packages[@]}"; do
    # dpkg -s succeeds for a removed package whose config files remain: read its status line.
    if ! dpkg -s "$p" 2>/dev/null | grep -qx 'Status: install ok installed'; then
        missing+=("$p")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: not root and no sudo: install them as root, then run this again" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
# env: sudo drops the caller's environment.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
