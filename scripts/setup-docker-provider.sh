#!/usr/bin/env bash
# Builds the Pulumi Docker provider plugin (pulumi-resource-docker) from its source, once per
# version, into
#   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/pulumi-docker/v<version>/bin/
# which scripts/env.sh puts on PATH, where Pulumi finds it as an ambient plugin.
#
# The Go module proxy refuses the provider module (403 "This module version is not available", for
# tags and pseudo-versions alike), and the provider's go.mod replaces the Terraform provider it
# bridges with a git submodule (../upstream) that a module download would not have anyway. So the
# two pinned commits come from git clones: DOCKER_PROVIDER_GIT (pulumi/pulumi-docker) and
# DOCKER_PROVIDER_UPSTREAM_GIT (kreuzwerker/terraform-provider-docker), URLs or local clones.
# Upstream's patches are applied as its Makefile does, the embedded schema is generated, and every
# other dependency comes from the Go module proxy. Cold: about 10 minutes and 5 GB on 2 cores.
# The last line on stdout is DOCKER_PROVIDER_BIN=<dir>.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$REPO/versions.env"
VERSION="$DOCKER_PROVIDER_VERSION"
PROVIDER_GIT="${DOCKER_PROVIDER_GIT:-https://github.com/pulumi/pulumi-docker.git}"
UPSTREAM_GIT="${DOCKER_PROVIDER_UPSTREAM_GIT:-https://github.com/kreuzwerker/terraform-provider-docker.git}"
MODULE=github.com/pulumi/pulumi-docker/provider/v4
CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
ROOT="$CACHE/pulumi-docker/v$VERSION"
BIN="$ROOT/bin"
PLUGIN="$BIN/pulumi-resource-docker"
STAMP="$VERSION $DOCKER_PROVIDER_COMMIT $DOCKER_PROVIDER_UPSTREAM_COMMIT"

log() { printf '[setup-docker-provider] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed() {
    [[ -x "$PLUGIN" && "$(cat "$BIN/.version" 2>/dev/null)" == "$STAMP" ]]
}

# checkout <git url or clone> <commit> <dir>: the commit's tree, without history.
checkout() {
    git init -q "$3"
    git -C "$3" fetch -q --depth 1 "$1" "$2" 2>/dev/null || git -C "$3" fetch -q "$1" \
        || die "cannot fetch $2 from $1"
    git -C "$3" -c advice.detachedHead=false checkout -q "$2" || die "$1 has no commit $2"
}

build() {
    command -v go >/dev/null || die "go is required to build the Docker provider"
    command -v git >/dev/null || die "git is required to build the Docker provider"
    local work
    work="$(mktemp -d "$ROOT/build.XXXXXX")"
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
    export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod
    log "checking out pulumi-docker $DOCKER_PROVIDER_COMMIT from $PROVIDER_GIT"
    checkout "$PROVIDER_GIT" "$DOCKER_PROVIDER_COMMIT" "$work/src"
    log "checking out its upstream $DOCKER_PROVIDER_UPSTREAM_COMMIT from $UPSTREAM_GIT"
    rm -rf "$work/src/upstream"
    checkout "$UPSTREAM_GIT" "$DOCKER_PROVIDER_UPSTREAM_COMMIT" "$work/src/upstream"
    local patch
    for patch in "$work"/src/patches/*.patch; do
        git -C "$work/src/upstream" apply --3way "$patch" || die "cannot apply $(basename "$patch")"
    done
    cd "$work/src/provider"
    log "generating the embedded schema"
    (cd cmd/pulumi-resource-docker && VERSION="$VERSION" go run generate.go)
    log "building pulumi-resource-docker v$VERSION (minutes when Go's caches are cold)"
    local start=$SECONDS
    go build -trimpath -ldflags "-s -w -X $MODULE/pkg/version.Version=$VERSION" \
        -o "$work/pulumi-resource-docker" ./cmd/pulumi-resource-docker
    mkdir -p "$BIN"
    mv -f "$work/pulumi-resource-docker" "$PLUGIN"
    echo "$STAMP" > "$BIN/.version"
    log "built in $(( SECONDS - start ))s"
}

mkdir -p "$ROOT"
if ! installed; then
    exec 9>"$ROOT/.lock"
    flock 9 || die "cannot lock $ROOT/.lock"
    installed || build
else
    log "pulumi-resource-docker v$VERSION already built in $BIN"
fi
echo "DOCKER_PROVIDER_BIN=$BIN"
