#!/usr/bin/env python3
# File: tests/package/check_kubernetes.py
# Reads every manifest under deploy/kubernetes (YAML, PyYAML's safe loader) and checks what a
# Kubernetes API server would not tell before the chain misbehaves: each document is an object
# of a known kind and API version; the StatefulSet, its headless Service, the cluster file in the
# ConfigMap, the PodDisruptionBudget and the NetworkPolicy agree with each other (rank = pod
# ordinal: broker i of the cluster file is pod NAME-i, reached at NAME-i.SERVICE); the probes are
# /livez and /readyz on the port the broker's --http binds. Run by kubernetes_test.sh.
# Usage: check_kubernetes.py DIR        exit 0 when every check holds, 1 otherwise
import pathlib
import re
import sys

import yaml

try:
    import tomllib  # Python 3.11 (Debian 12's python3)
except ImportError:  # pragma: no cover
    tomllib = None

API_VERSIONS = {
    "ConfigMap": "v1",
    "Service": "v1",
    "Pod": "v1",
    "StatefulSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
BROKER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)
    return condition


def selects(selector, labels):
    """True when every label of a matchLabels-style selector is on labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def load(directory):
    docs = []
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml"))
    check(files, f"no manifest under {directory}")
    for path in files:
        with path.open(encoding="utf-8") as f:
            try:
                loaded = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                check(False, f"{path}: not YAML: {e}")
                continue
        for doc in loaded:
            where = f"{path.relative_to(directory)}"
            if not check(isinstance(doc, dict), f"{where}: a document is not a mapping"):
                continue
            kind = doc.get("kind")
            name = (doc.get("metadata") or {}).get("name")
            check(kind in API_VERSIONS, f"{where}: unexpected kind {kind!r}")
            check(doc.get("apiVersion") == API_VERSIONS.get(kind),
                  f"{where}: {kind} has apiVersion {doc.get('apiVersion')!r}, not {API_VERSIONS.get(kind)!r}")
            check(isinstance(name, str) and name, f"{where}: {kind} has no metadata.name")
            docs.append((where, doc))
    return docs


def check_pod_spec(where, spec, volume_claims=()):
    volumes = {v["name"] for v in spec.get("volumes", [])} | set(volume_claims)
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        cname = c.get("name")
        check(c.get("image"), f"{where}: container {cname} has no image")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for p in ports.values():
            check(isinstance(p, int) and 0 < p < 65536, f"{where}: container {cname}: bad port {p!r}")
        for m in c.get("volumeMounts", []):
            check(m.get("name") in volumes, f"{where}: container {cname} mounts an undefined volume {m.get('name')!r}")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
            if port is not None and isinstance(port, str):
                check(port in ports, f"{where}: container {cname}: {probe} names the undefined port {port!r}")
    return volumes


def check_chain(docs):
    by_kind = {}
    for where, doc in docs:
        by_kind.setdefault(doc["kind"], []).append((where, doc))
    sets = by_kind.get("StatefulSet", [])
    if not check(len(sets) == 1, f"expected one StatefulSet (one chain), found {len(sets)}"):
        return
    where, sts = sets[0]
    name = sts["metadata"]["name"]
    spec = sts["spec"]
    template = spec["template"]
    labels = template["metadata"]["labels"]
    pod = template["spec"]
    check(selects(spec["selector"]["matchLabels"], labels), f"{where}: the selector does not match the pod labels")
    check(spec.get("podManagementPolicy") == "Parallel",
          f"{where}: podManagementPolicy must be Parallel (the chain needs every broker started)")
    replicas = spec.get("replicas")
    check(isinstance(replicas, int) and replicas >= 1, f"{where}: replicas is {replicas!r}")

    services = {d["metadata"]["name"]: (w, d) for w, d in by_kind.get("Service", [])}
    service_name = spec.get("serviceName")
    if check(service_name in services, f"{where}: serviceName {service_name!r} is no Service of the manifests"):
        swhere, svc = services[service_name]
        check(svc["spec"].get("clusterIP") == "None", f"{swhere}: the brokers' Service must be headless (clusterIP: None)")
        check(svc["spec"].get("publishNotReadyAddresses") is True,
              f"{swhere}: publishNotReadyAddresses must be true (brokers find each other before they are ready)")
        check(selects(svc["spec"].get("selector"), labels), f"{swhere}: the selector does not match the brokers")

    claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
    check_pod_spec(where, pod, claims)
    brokers = [c for c in pod["containers"] if c["name"] == "broker"]
    if not check(len(brokers) == 1, f"{where}: no container named broker"):
        return
    broker = brokers[0]
    mounts = {m["mountPath"]: m["name"] for m in broker.get("volumeMounts", [])}
    check(mounts.get("/var/lib/starbus") in claims, f"{where}: /var/lib/starbus is not a volumeClaimTemplate")
    script = " ".join(broker.get("command", []) + broker.get("args", []))
    http = re.search(r"--http\s+(\S+):(\d+)", script)
    ports = {p["name"]: p["containerPort"] for p in broker.get("ports", [])}
    if check(http, f"{where}: the broker is started without --http HOST:PORT"):
        check(http.group(1) == "0.0.0.0", f"{where}: --http must bind the pod's address for the kubelet's probes")
        check(ports.get("http") == int(http.group(2)), f"{where}: the port named http is not the one --http binds")
    for flag in ("--cluster /etc/starbus/cluster.toml", '--name "$POD_NAME"', '--data-dir "/var/lib/starbus/$POD_NAME"'):
        check(flag in script, f"{where}: the broker is not started with {flag}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez"), ("startupProbe", "/livez")):
        get = (broker.get(probe) or {}).get("httpGet") or {}
        check(get.get("path") == path and get.get("port") == "http",
              f"{where}: {probe} must be GET {path} on the port http")
    requests = (broker.get("resources") or {}).get("requests") or {}
    check("cpu" in requests and "memory" in requests, f"{where}: the broker has no cpu and memory requests")
    check("cpu" not in ((broker.get("resources") or {}).get("limits") or {}),
          f"{where}: a CPU limit throttles heartbeats into false failovers")

    # The cluster file: broker i is pod NAME-i, at NAME-i.SERVICE.
    maps = {d["metadata"]["name"]: (w, d) for w, d in by_kind.get("ConfigMap", [])}
    cluster_maps = [v["configMap"]["name"] for v in pod.get("volumes", [])
                    if "configMap" in v and mounts.get("/etc/starbus") == v["name"]]
    if check(len(cluster_maps) == 1 and cluster_maps[0] in maps,
             f"{where}: /etc/starbus is not a ConfigMap of the manifests"):
        mwhere, cm = maps[cluster_maps[0]]
        text = (cm.get("data") or {}).get("cluster.toml")
        if check(text, f"{mwhere}: no cluster.toml"):
            if tomllib is None:
                print("check_kubernetes: no tomllib (Python < 3.11): the cluster file is not parsed")
            else:
                try:
                    cluster = tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    check(False, f"{mwhere}: cluster.toml is not TOML: {e}")
                else:
                    table = cluster.get("broker", [])
                    check(len(table) == replicas,
                          f"{mwhere}: {len(table)} [[broker]] tables for {replicas} replicas: rank = pod ordinal")
                    for i, b in enumerate(table):
                        pod_name = f"{name}-{i}"
                        check(b.get("name") == pod_name, f"{mwhere}: broker {i} is {b.get('name')!r}, not {pod_name!r}")
                        check(BROKER_NAME.match(str(b.get("name"))), f"{mwhere}: {b.get('name')!r} is no broker name")
                        m = re.fullmatch(r"tcp://([^:/]+):(\d+)", str(b.get("endpoint")))
                        if check(m, f"{mwhere}: broker {i}'s endpoint {b.get('endpoint')!r} is not tcp://HOST:PORT"):
                            check(m.group(1) in (f"{pod_name}.{service_name}",)
                                  or m.group(1).startswith(f"{pod_name}.{service_name}."),
                                  f"{mwhere}: broker {i} is not reached at {pod_name}.{service_name}")
                            base = int(m.group(2))
                            for offset, pname in ((0, "requests"), (1, "publish"), (2, "heartbeat")):
                                check(ports.get(pname) == base + offset,
                                      f"{where}: the port {pname} is not {base + offset} (P+{offset} for P = {base})")
                    mode = (cluster.get("security") or {}).get("mode", "none")
                    check(mode in ("none", "curve"), f"{mwhere}: security mode {mode!r}")

    for pwhere, pdb in by_kind.get("PodDisruptionBudget", []):
        check(selects(pdb["spec"]["selector"]["matchLabels"], labels), f"{pwhere}: the selector does not match the brokers")
        check(pdb["spec"].get("maxUnavailable") == 1, f"{pwhere}: more than one broker may be taken away at once")
    for nwhere, policy in by_kind.get("NetworkPolicy", []):
        check(selects(policy["spec"]["podSelector"]["matchLabels"], labels), f"{nwhere}: it does not select the brokers")
        allowed = {p["port"] for rule in policy["spec"].get("ingress", []) for p in rule.get("ports", [])}
        for pname, port in ports.items():
            check(port in allowed, f"{nwhere}: the broker port {pname} ({port}) is let in by no rule")
    for pwhere, admin in by_kind.get("Pod", []):
        check_pod_spec(pwhere, admin["spec"])


def main():
    directory = pathlib.Path(sys.argv[1])
    docs = load(directory)
    if not problems:
        check_chain(docs)
    for p in problems:
        print(f"check_kubernetes: {p}", file=sys.stderr)
    kinds = sorted(d["kind"] for _, d in docs)
    print(f"check_kubernetes: {len(docs)} objects ({', '.join(kinds)}): "
          f"{'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
