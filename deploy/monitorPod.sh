#!/usr/bin/env bash
# monitorPod.sh POD [NAMESPACE] [IFACE]
#
# Writes dlltagent_search.yaml to run dlltagent next to POD (on its node,
# capturing its IFACE from inside its network namespace). Then:
#
#   kubectl apply -f dlltagent_search.yaml
#   kubectl logs -f -n NAMESPACE dlltagent-POD        # the diagnoses, live
#
# Edit SEARCH_HTTP_HEADER in dlltagent_search.yaml to search other text.
# Uses `dlltagent manifest` when it is on PATH, else kubectl and the
# template dlltagent_pod.yaml next to this script.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: $0 POD [NAMESPACE] [IFACE]   (defaults: namespace default, interface eth0)" >&2
  exit 2
fi
POD=$1; NS=${2:-default}; IFACE=${3:-eth0}
OUT=dlltagent_search.yaml
IMAGE=${DLLTAGENT_IMAGE:-ghcr.io/dlltagent/dlltagent:latest}
if command -v dlltagent >/dev/null 2>&1; then
  dlltagent manifest -image "$IMAGE" -o "$OUT" "$POD" "$NS" "$IFACE"
  exit $?
fi
here=$(cd "$(dirname "$0")" && pwd)
tmpl=$here/dlltagent_pod.yaml
[ -f "$tmpl" ] || { echo "$0: template $tmpl not found" >&2; exit 1; }
command -v kubectl >/dev/null 2>&1 || { echo "$0: need dlltagent or kubectl on PATH" >&2; exit 1; }
if ! NODE=$(kubectl get pod "$POD" -n "$NS" -o 'jsonpath={.spec.nodeName}' 2>&1); then
  echo "$0: pod $POD not found in namespace $NS: $NODE" >&2
  exit 1
fi
if [ -z "$NODE" ]; then
  echo "$0: pod $NS/$POD is not scheduled yet (no node); try again once it is" >&2
  exit 1
fi
AGENT="dlltagent-$POD"; AGENT=${AGENT:0:63}; AGENT=${AGENT%%[-.]}
sed -e "s|\${AGENT_NAME}|$AGENT|g" -e "s|\${NAMESPACE}|$NS|g" -e "s|\${POD}|$POD|g" \
    -e "s|\${NODE}|$NODE|g" -e "s|\${IFACE}|$IFACE|g" -e "s|\${IMAGE}|$IMAGE|g" "$tmpl" > "$OUT"
echo "wrote $OUT: dlltagent for pod $NS/$POD on node $NODE, interface $IFACE"
echo "next: kubectl apply -f $OUT && kubectl logs -f -n $NS $AGENT"
