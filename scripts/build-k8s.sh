#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from the Go module proxy for the
# Kubernetes tests, into a cache outside the repository
# (${XDG_CACHE_HOME:-~/.cache}/dlltagent/k8s/bin, or $K8S_CACHE/bin), so
# every clone on the machine reuses it. First run: about ten minutes on 2
# cores; later runs: nothing to do.
#
# kube-apiserver: k8s.io/kubernetes/cmd/kube-apiserver with every staging
# module (required as v0.0.0 by kubernetes' go.mod) replaced by its v0.x
# twin of the same minor. etcd: go.etcd.io/etcd/server/v3/etcdmain.
set -euo pipefail
K8S=${K8S_VERSION:-v1.37.2}
ETCD=${ETCD_VERSION:-v3.7.3}
STAGING=v0.${K8S#v1.}
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dlltagent/k8s}
bin=$cache/bin
mkdir -p "$bin"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ "$(cat "$bin/versions" 2>/dev/null)" = "$K8S $ETCD" ]; then
  exit 0
fi
export GOFLAGS=-mod=mod

echo "build-k8s: kube-apiserver $K8S (staging $STAGING), etcd $ETCD -> $bin" >&2
api=$cache/apiserver
mkdir -p "$api"
cat > "$api/main.go" <<'GO'
// Package main builds kube-apiserver for dlltagent's tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
  echo "module dlltagent.test/apiserver"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')"
  echo
  echo "require k8s.io/kubernetes $K8S"
  echo
  grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="$STAGING" '{ printf "replace %s => %s %s\n", $1, $1, v }' | sort -u
} > "$api/go.mod"
(cd "$api" && go mod tidy >/dev/null 2>&1 || true; go build -trimpath -o "$bin/kube-apiserver" .)

et=$cache/etcd
mkdir -p "$et"
cat > "$et/main.go" <<'GO'
// Package main builds etcd for dlltagent's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
printf 'module dlltagent.test/etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')" "$ETCD" > "$et/go.mod"
(cd "$et" && go mod tidy >/dev/null 2>&1 || true; go build -trimpath -o "$bin/etcd" .)
echo "$K8S $ETCD" > "$bin/versions"
echo "build-k8s: done" >&2
