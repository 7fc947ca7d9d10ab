#!/usr/bin/env bash
# Builds the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) from the Go module
# proxy, once per version, into
#   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/pulumi-kubernetes/v<version>/bin/
# which scripts/env.sh puts on PATH, where Pulumi finds it as an ambient plugin.
#
# The provider's release tags are not served as module versions, so the pinned commit is fetched by
# pseudo-version. Its go.mod replaces sdk/v4 with a sibling directory, which a module download does
# not have: the build requires the released sdk/v4 instead. The embedded schema files are generated
# (as upstream's Makefile does) before the build. Cold: about 7 minutes and 4 GB of memory on 2 cores.
# The last line on stdout is KUBERNETES_PROVIDER_BIN=<dir>.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$REPO/versions.env"
VERSION="$KUBERNETES_PROVIDER_VERSION"
MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
SDK_MODULE=github.com/pulumi/pulumi-kubernetes/sdk/v4
CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
ROOT="$CACHE/pulumi-kubernetes/v$VERSION"
BIN="$ROOT/bin"
PLUGIN="$BIN/pulumi-resource-kubernetes"

log() { printf '[setup-kubernetes-provider] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed() {
    [[ -x "$PLUGIN" && "$(cat "$BIN/.version" 2>/dev/null)" == "$VERSION $KUBERNETES_PROVIDER_MODULE" ]]
}

build() {
    command -v go >/dev/null || die "go is required to build the Kubernetes provider"
    local work src
    work="$(mktemp -d "$ROOT/build.XXXXXX")"
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
    export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod
    log "downloading $MODULE@$KUBERNETES_PROVIDER_MODULE"
    src="$(go mod download -json "$MODULE@$KUBERNETES_PROVIDER_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
    [[ -d "$src" ]] || die "the Go module proxy did not serve $MODULE@$KUBERNETES_PROVIDER_MODULE"
    cp -r "$src/." "$work/"
    chmod -R u+w "$work"
    cd "$work"
    go mod edit -dropreplace "$SDK_MODULE" -require "$SDK_MODULE@v$VERSION"
    log "generating the embedded schema"
    (cd cmd/pulumi-resource-kubernetes && VERSION="$VERSION" go run generate.go >/dev/null)
    go mod tidy -e >/dev/null 2>&1 || true
    log "building pulumi-resource-kubernetes v$VERSION (minutes when Go's caches are cold)"
    local start=$SECONDS
    go build -trimpath -ldflags "-s -w -X $MODULE/pkg/version.Version=$VERSION" -o "$work/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
    mkdir -p "$BIN"
    mv -f "$work/pulumi-resource-kubernetes" "$PLUGIN"
    echo "$VERSION $KUBERNETES_PROVIDER_MODULE" > "$BIN/.version"
    log "built in $(( SECONDS - start ))s"
}

mkdir -p "$ROOT"
if ! installed; then
    exec 9>"$ROOT/.lock"
    flock 9 || die "cannot lock $ROOT/.lock"
    installed || build
else
    log "pulumi-resource-kubernetes v$VERSION already built in $BIN"
fi
echo "KUBERNETES_PROVIDER_BIN=$BIN"
