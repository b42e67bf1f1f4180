# syntax=docker/dockerfile:1
# starbus image: a multi-stage build on Debian 12 (bookworm).
#   build    installs the toolchain and -dev packages (scripts/install-deps.sh) and builds Release
#   runtime  only the shared libraries the programs link, the programs and a default cluster file
# Build:  docker build -t starbus .
# Run:    docker compose up     (three brokers with CURVE keys, see docker-compose.yml)
#         docker run --rm -e STARBUS_NAME=A -v "$PWD/my-cluster.toml:/etc/starbus/cluster.toml:ro" starbus
# Keys are never part of the image (.dockerignore leaves them out of the build context): a CURVE
# cluster mounts each broker's secret key at run time and names it in STARBUS_BROKER_KEY, e.g.
#   -e STARBUS_BROKER_KEY=/run/starbus/key/A.key -v "$PWD/keys/A:/run/starbus/key:ro"
# (the key must be readable by the user `starbus` the broker runs as; docs/security.md).

FROM debian:12 AS build
# The same packages as a developer's machine and CI (scripts/install-deps.sh).
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The contract build, without tests and benchmarks (CI runs those: scripts/test.sh).
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTARBUS_BUILD_TESTS=OFF -DSTARBUS_BUILD_BENCH=OFF \
    && cmake --build build -j"$(nproc)" \
    && strip build/bin/*

FROM debian:12 AS runtime
# Runtime libraries only (the header-only dependencies leave nothing to install):
#   libzmq5 (ZeroMQ), libspdlog1.10 + libfmt9 (broker logs), libtomlplusplus3 (cluster file),
#   libcpp-httplib0.11 + libprometheus-cpp-core1.0 (the HTTP endpoint, --http),
#   tini (PID 1: forwards SIGTERM to the broker and reaps children).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq5 libspdlog1.10 libfmt9 libtomlplusplus3 libssl3 libstdc++6 libcpp-httplib0.11 \
        libprometheus-cpp-core1.0 tini \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --home-dir /var/lib/starbus --shell /usr/sbin/nologin starbus \
    && mkdir -p /etc/starbus /var/lib/starbus \
    && chown starbus:starbus /var/lib/starbus
COPY --from=build /src/build/bin/starbus-broker /src/build/bin/starbus /src/build/bin/starbus-example-* /usr/local/bin/
COPY docker/cluster.toml /etc/starbus/cluster.toml

USER starbus
WORKDIR /var/lib/starbus
# Which [[broker]] of the cluster file this container runs.
ENV STARBUS_NAME=A
# This broker's secret key file (NAME.key), mounted at run time; empty: no --key (security mode none).
ENV STARBUS_BROKER_KEY=""
# The `starbus` tool reads the cluster file from here when --cluster is not given.
ENV STARBUS_CLUSTER=/etc/starbus/cluster.toml
# A named volume mounted here starts with this directory's owner (starbus).
VOLUME ["/var/lib/starbus"]
# P (requests, ROUTER), P+1 (publications, PUB), P+2 (heartbeats, PUB) for P = 5670.
EXPOSE 5670 5671 5672
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
# A shell so that $STARBUS_NAME and $STARBUS_BROKER_KEY are expanded; exec so the broker itself gets the
# signal from tini.
CMD ["/bin/sh", "-c", "exec starbus-broker --cluster /etc/starbus/cluster.toml --name \"$STARBUS_NAME\" --data-dir /var/lib/starbus ${STARBUS_BROKER_KEY:+--key \"$STARBUS_BROKER_KEY\"}"]
