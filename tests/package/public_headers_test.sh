#!/usr/bin/env bash
# File: public_headers_test.sh
# The client's public headers are a boundary: each must compile on its own,
# and what it includes, all the way down, must be the standard library or
# starbus's own vocabulary, never a third-party header (ZeroMQ, cppzmq,
# MessagePack, Boost, toml, spdlog...) nor the wire structs (messages.hpp,
# codec.hpp, types.hpp with its MessagePack adaptors, all in common/wire). An application that
# includes <starbus/client/client.hpp> then inherits no dependency's
# configuration and compiles quickly.
#
# Usage: public_headers_test.sh SOURCE_DIR CXX
# How: the compiler's -H lists every header a translation unit opens. The
# standard library's own closure (every header <bits/stdc++.h> opens) is what
# is allowed besides starbus's include directories.
set -euo pipefail
src=$1
cxx=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
includes=(-I "$src/client/include")
for dir in "$src"/common/*/include; do includes+=(-I "$dir"); done
flags=(-std=c++20 -fsyntax-only -H "${includes[@]}")

echo '#include <bits/stdc++.h>' > "$work/std.cpp"
# Only the list of headers is wanted here: preprocessing is enough, and much cheaper than parsing.
"$cxx" -std=c++20 -E -H "$work/std.cpp" > /dev/null 2> "$work/std.h.txt"
sed -n 's/^\.\+ //p' "$work/std.h.txt" | xargs -r realpath | sort -u > "$work/allowed.txt"

status=0
for header in "$src"/client/include/starbus/client/*.hpp; do
    name=starbus/client/$(basename "$header")
    echo "#include <$name>" > "$work/one.cpp"
    if ! "$cxx" "${flags[@]}" "$work/one.cpp" 2> "$work/one.h.txt"; then
        echo "FAIL: <$name> does not compile on its own:" >&2
        grep -v '^\.' "$work/one.h.txt" >&2 || true
        status=1
        continue
    fi
    while read -r opened; do
        path=$(realpath "$opened")
        case "$path" in
            "$(realpath "$src")"/common/wire/include/starbus/wire/messages.hpp | \
            "$(realpath "$src")"/common/wire/include/starbus/wire/codec.hpp | \
            "$(realpath "$src")"/common/wire/include/starbus/wire/types.hpp)
                echo "FAIL: <$name> opens the wire header $path: use vocabulary.hpp's types instead" >&2
                status=1 ;;
            "$(realpath "$src")"/client/include/starbus/* | "$(realpath "$src")"/common/*/include/starbus/*) ;;
            *)
                if ! grep -qxF "$path" "$work/allowed.txt"; then
                    echo "FAIL: <$name> opens $path, which is neither the standard library nor starbus's:" \
                         "keep third-party headers out of the public API (pimpl, a forward declaration)" >&2
                    status=1
                fi ;;
        esac
    done < <(sed -n 's/^\.\+ //p' "$work/one.h.txt")
    [ $status -eq 0 ] && echo "ok: <$name>"
done
exit $status
