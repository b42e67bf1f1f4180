#!/usr/bin/env bash
# File: tests/package/kubernetes_test.sh
# The Kubernetes manifests of deploy/kubernetes, checked without a Kubernetes cluster (no
# validator with the API's schemas is packaged in Debian 12: kubeconform and kubeval are not):
#   1. yamllint (Debian's package), with deploy/kubernetes/.yamllint: syntax, duplicate keys,
#      indentation;
#   2. check_kubernetes.py: every document a known kind, and the StatefulSet, its headless
#      Service, the cluster file in the ConfigMap and the probes agreeing with each other.
# Exit 77 (CTest's SKIP_RETURN_CODE) when neither yamllint nor PyYAML is installed; with only one
# of them, that one runs and the other is named as skipped.
# Usage: kubernetes_test.sh SOURCE_DIR        (run by CTest)
set -euo pipefail
dir=$1/deploy/kubernetes

python=
for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if ! command -v yamllint >/dev/null && [[ -z $python ]]; then
    echo "kubernetes test: SKIPPED: neither yamllint nor python3-yaml is installed (scripts/install-deps.sh)"
    exit 77
fi

status=0
if command -v yamllint >/dev/null; then
    yamllint --strict -c "$dir/.yamllint" -f parsable "$dir" || { echo "kubernetes test: yamllint found problems" >&2; status=1; }
    [[ $status -eq 0 ]] && echo "kubernetes test: yamllint: no problem in $(find "$dir" -name '*.yaml' | wc -l) files"
else
    echo "kubernetes test: yamllint is not installed: syntax checked by PyYAML only"
fi
if [[ -n $python ]]; then
    "$python" "$(dirname "$0")/check_kubernetes.py" "$dir" || status=1
else
    echo "kubernetes test: python3-yaml is not installed: the manifests' agreement is not checked"
fi
exit $status
