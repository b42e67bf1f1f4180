#!/usr/bin/env bash
# File: tests/package/consumer_test.sh
# The installed package as an application developer meets it: installs the
# build into a temporary prefix, checks that the exported targets carry no
# build flags of the project's own (warnings, sanitizers), then builds the
# examples as their own project against that prefix (find_package(starbus))
# and checks their compile lines hold only what the consumer asked for.
# Usage: consumer_test.sh SOURCE_DIR BUILD_DIR        (run by CTest)
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/starbus-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "consumer test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install failed"; }
targets=$(find "$work/prefix" -name 'starbusTargets*.cmake')
[[ -n $targets ]] || fail "no starbusTargets.cmake installed"
for forbidden in -Wall -Wextra -fsanitize starbus_build_flags; do
    if grep -q -- "$forbidden" $targets; then
        grep -n -- "$forbidden" $targets >&2
        fail "the installed targets pass '$forbidden' to consumers"
    fi
done

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$src/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${launcher[@]}" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; fail "configuring the examples against the installed package failed"; }
for forbidden in -Wall -Wextra -fsanitize; do
    if grep -q -- "$forbidden" "$work/examples/compile_commands.json"; then
        grep -- "$forbidden" "$work/examples/compile_commands.json" | head -3 >&2
        fail "a consumer's compile line got '$forbidden' from the package"
    fi
done
cmake --build "$work/examples" -j2 >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "building the examples failed"; }
"$work/examples/bin/starbus-example-operator" --help >/dev/null || fail "the example built against the package does not run"
echo "consumer test: the installed package builds the examples with the consumer's own flags only"
