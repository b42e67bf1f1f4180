#!/bin/sh
# File: docker/make-keys.sh
# The CURVE keys and the cluster file of the compose cluster (docs/security.md).
# docker-compose.yml runs it in the one-shot service `keys`, as root inside the
# image, before any broker starts. It writes, under KEYS (default /keys, which
# compose mounts from ./docker/keys):
#   A/A.key, B/B.key, ...   each broker's secret key: compose mounts A/ into broker-a only
#   admin/admin.key         the admin's: mounted into the `cli` service only
#   examples/examples.key   the example programs' (role writer)
#   public/cluster.toml     docker/cluster.toml made CURVE: [security] mode = "curve", each
#                           broker's public_key, and the two clients as [[client]] tables
#   public/NAME.pub         every public key
# A secret key is mode 0600 in a directory of mode 0700, both owned by the user
# the containers run as (starbus), so that only its own container can read it.
# Nothing here goes into the image: the keys are made where they are used.
#
# It keeps the keys it finds, so that running it again (every `docker compose
# up` does) changes nobody's identity. To make every key anew, run
#   docker compose run --rm -e STARBUS_RENEW_KEYS=1 keys
# then recreate every container: docker compose up -d --force-recreate
#
# Environment (for running it outside compose): STARBUS_KEYS_DIR (default
# /keys), STARBUS_CLUSTER_TEMPLATE (default /docker/cluster.toml),
# STARBUS_KEYS_OWNER (default starbus), STARBUS_RENEW_KEYS (1: new keys).
set -eu

keys=${STARBUS_KEYS_DIR:-/keys}
template=${STARBUS_CLUSTER_TEMPLATE:-/docker/cluster.toml}
owner=${STARBUS_KEYS_OWNER:-starbus}
clients="admin examples"

fail() {
    echo "make-keys: $*" >&2
    exit 1
}

[ -r "$template" ] || fail "cannot read the cluster file $template: mount docker/cluster.toml there"
[ -d "$keys" ] || fail "no directory $keys: mount docker/keys there"
if grep -q '^[[:space:]]*\[security\]\|^[[:space:]]*public_key' "$template"; then
    fail "$template already has [security] or public_key lines: this script adds them (keep the file plaintext)"
fi

# The broker names, in rank order: each `name = "X"` inside a [[broker]] table.
brokers=$(awk '
    /^[[:space:]]*\[\[broker\]\]/ { in_broker = 1; next }
    /^[[:space:]]*\[/ { in_broker = 0 }
    in_broker && /^[[:space:]]*name[[:space:]]*=/ { n = $0; sub(/^[^"]*"/, "", n); sub(/".*$/, "", n); print n }
' "$template")
[ -n "$brokers" ] || fail "$template lists no [[broker]]"

if [ "${STARBUS_RENEW_KEYS:-0}" = 1 ]; then
    echo "make-keys: STARBUS_RENEW_KEYS=1: replacing every key"
    for name in $brokers $clients; do
        rm -f "$keys/$name/$name.key" "$keys/$name/$name.pub"
    done
fi

mkdir -p "$keys/public"
for name in $brokers $clients; do
    dir=$keys/$name
    mkdir -p "$dir"
    if [ -f "$dir/$name.key" ]; then
        echo "make-keys: kept the key of $name"
    else
        # --force: a .pub left without its .key is replaced with the new pair.
        starbus keygen "$name" --dir "$dir" --force >/dev/null || fail "starbus keygen $name failed"
        echo "make-keys: made a key pair for $name"
    fi
    # Whatever a bind mount made of it: only the containers' user may read a secret.
    chown "$owner:" "$dir" "$dir/$name.key"
    chmod 700 "$dir"
    chmod 600 "$dir/$name.key"
    cp "$dir/$name.pub" "$keys/public/$name.pub"
done

# The public key of NAME, from its .pub (the zcert line `public-key = "Z85"`).
public_key() {
    sed -n 's/^[[:space:]]*public-key[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' "$keys/public/$1.pub"
}

admin_key=$(public_key admin)
examples_key=$(public_key examples)
if [ ${#admin_key} -ne 40 ] || [ ${#examples_key} -ne 40 ]; then
    fail "cannot read the clients' public keys in $keys/public"
fi

# The cluster file: the template, a public_key line after each broker's name,
# then the security mode and the clients. Written aside, then renamed, so that
# a broker starting meanwhile never reads half of it.
out=$keys/public/cluster.toml
tmp=$out.tmp
{
    echo "# Made by docker/make-keys.sh from docker/cluster.toml: edit that file, not this one."
    echo
    awk -v dir="$keys/public" '
        function key_of(n,   f, line, k) {
            f = dir "/" n ".pub"
            k = ""
            while ((getline line < f) > 0)
                if (line ~ /^[[:space:]]*public-key[[:space:]]*=/) { sub(/^[^"]*"/, "", line); sub(/".*$/, "", line); k = line }
            close(f)
            return k
        }
        /^[[:space:]]*\[\[broker\]\]/ { in_broker = 1; print; next }
        /^[[:space:]]*\[/ { in_broker = 0 }
        { print }
        in_broker && /^[[:space:]]*name[[:space:]]*=/ {
            n = $0; sub(/^[^"]*"/, "", n); sub(/".*$/, "", n)
            k = key_of(n)
            if (length(k) != 40) { print "make-keys: no public key for broker " n > "/dev/stderr"; exit 1 }
            print "public_key = \"" k "\""
        }
    ' "$template"
    cat <<EOF

# CURVE on every port: only the brokers above and the clients below (and those
# an admin grants with \`starbus access grant\`) can connect.
[security]
mode = "curve"

[[client]]
name = "admin"              # the \`cli\` service: docker compose run --rm cli status
role = "admin"
public_key = "$admin_key"

[[client]]
name = "examples"           # the example programs (docker compose --profile examples up)
role = "writer"
public_key = "$examples_key"
EOF
} >"$tmp" || fail "cannot write $tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$out"
chmod 755 "$keys/public"
chmod 644 "$keys/public/"*.pub
echo "make-keys: wrote $out (brokers: $(echo "$brokers" | tr '\n' ' '); clients: $clients)"
