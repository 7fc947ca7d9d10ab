#!/usr/bin/env bash
# setup-pulumi.sh NODE_MODULES_DIR
#
# Makes the Pulumi CLI and its Node.js language host available, built from
# source through the Go module proxy and cached outside the repository:
#
#   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/pulumi/<version>/bin/
#       pulumi                         github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
#       pulumi-language-nodejs         Node.js language host (see below)
#       pulumi-resource-pulumi-nodejs  dynamic-provider launcher (shell script)
#
# Idempotent: when both binaries are already there and report the expected
# version, nothing is built (fast path, a fraction of a second).
#
# A Pulumi CLI already on PATH (the official one) is used instead of a build when
# it is at least the pinned version and has its pulumi-language-nodejs beside it;
# one that is older is named, with the version needed, and the build is used.
#
# NODE_MODULES_DIR: the project's node_modules. The launcher script is copied
# from NODE_MODULES_DIR/@pulumi/pulumi/pulumi-resource-pulumi-nodejs (it ships
# at the root of the @pulumi/pulumi npm package). It only needs `node` on PATH; it resolves
# @pulumi/pulumi/cmd/dynamic-provider from the working directory (the Pulumi
# project), so it is not tied to the node_modules it was copied from.
#
# The upstream Node.js language host module
# (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is never
# tagged, and the Go module proxy reachable here refuses it at every
# pseudo-version. The project therefore builds its own minimal language host,
# tools/pulumi-language-nodejs/main.go, as a package of the wrapper module below
# against sdk/v3 at the pinned version. It is rebuilt when its source changes.
#
# Progress goes to stderr as "[setup-pulumi] ..."; the last line on stdout is
#   PULUMI_BIN=<bin dir>
#
# Typical use (`node` must be on PATH for the language host and the launcher):
#   PULUMI_BIN="$(scripts/setup-pulumi.sh node_modules | sed -n 's/^PULUMI_BIN=//p')"
#   export PATH="$PULUMI_BIN:$PATH" PULUMI_SKIP_UPDATE_CHECK=true \
#          PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The Automation API can also be pointed at it without PATH:
#   PulumiCommand.get({ root: "<cache>/pulumi/v3.248.0" })
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$REPO/versions.env"
PULUMI_VERSION="v$PULUMI_VERSION"
HOST_SOURCE="$REPO/tools/pulumi-language-nodejs/main.go"
HOST_DIGEST="$(sha256sum "$HOST_SOURCE" | cut -c1-16)"
PKG_MOD=github.com/pulumi/pulumi/pkg/v3
SDK_MOD=github.com/pulumi/pulumi/sdk/v3
VERSION_LDFLAG="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}"
LAUNCHER=pulumi-resource-pulumi-nodejs

CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
[[ "$CACHE" == /* ]] || CACHE="$PWD/$CACHE"
ROOT="$CACHE/pulumi/$PULUMI_VERSION"
BIN="$ROOT/bin"
BUILD="$ROOT/build"

log() { printf '[setup-pulumi] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when the CLI reports the pinned version and the language host was built from today's source.
installed() {
    [[ -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]] || return 1
    local v
    v="$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" version 2>/dev/null)" || return 1
    [[ "$v" == "$PULUMI_VERSION" && "$(cat "$BIN/.language-host-source" 2>/dev/null)" == "$HOST_DIGEST" ]]
}

version_at_least() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

# PATH without this cache's own bin folder.
path_without_cache() {
    local IFS=: entry kept=()
    for entry in $PATH; do
        [[ "$entry" == "$BIN" ]] || kept+=("$entry")
    done
    echo "${kept[*]}"
}

# Prints the folder of a Pulumi CLI on PATH that this project can use as it is (see header).
usable_cli_on_path() {
    local found dir v
    found="$(PATH="$(path_without_cache)" command -v pulumi 2>/dev/null)" || return 1
    dir="$(cd "$(dirname "$found")" && pwd)"
    if ! v="$(PULUMI_SKIP_UPDATE_CHECK=true "$found" version 2>/dev/null)" || [[ ! "$v" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+ ]]; then
        log "ignoring $found: 'pulumi version' did not answer with a version"
        return 1
    fi
    if ! version_at_least "${v#v}" "${PULUMI_VERSION#v}"; then
        log "found Pulumi $v at $found, older than the $PULUMI_VERSION that @pulumi/pulumi ${PULUMI_VERSION#v} needs; building $PULUMI_VERSION instead"
        return 1
    fi
    if [[ ! -x "$dir/pulumi-language-nodejs" ]]; then
        log "found Pulumi $v at $found, but no pulumi-language-nodejs beside it; building $PULUMI_VERSION instead"
        return 1
    fi
    log "using Pulumi $v at $found"
    echo "$dir"
}

# Installs the dynamic-provider launcher into $BIN (see header).
install_launcher() {
    local nm="$1" src="$1/@pulumi/pulumi/$LAUNCHER" tmp
    [[ -f "$src" ]] || die "$src not found: run npm ci first"
    if ! cmp -s "$src" "$BIN/$LAUNCHER"; then
        tmp="$BIN/.$LAUNCHER.$$"
        cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$BIN/$LAUNCHER"
        log "installed $LAUNCHER from $src"
    fi
}

# Prints "-replace=OLD[@V]=NEW@V" for every replace directive of a go.mod whose
# target is a module (replacements by a local directory are left out: the
# wrapper requires those modules, e.g. sdk/v3, at the pinned version instead).
replace_flags() {
    awk '
        function emit(s,    n, t, i, arrow, l, r) {
            sub(/\/\/.*/, "", s)
            n = split(s, t, /[ \t]+/)
            arrow = 0; l = ""; r = ""
            for (i = 1; i <= n; i++) {
                if (t[i] == "") continue
                if (t[i] == "=>") { arrow = 1; continue }
                if (!arrow) l = (l == "" ? t[i] : l "@" t[i])
                else        r = (r == "" ? t[i] : r "@" t[i])
            }
            if (r !~ /@/) { print "[setup-pulumi] skipping local replace " l " => " r > "/dev/stderr"; return }
            print "-replace=" l "=" r
        }
        /^replace[ \t]*\(/ { blk = 1; next }
        blk && /^[ \t]*\)/ { blk = 0; next }
        blk                { if ($0 ~ /=>/) emit($0); next }
        /^replace[ \t]/    { sub(/^replace[ \t]+/, ""); emit($0) }
    ' "$1"
}

# Runs a command in the background, printing a heartbeat until it finishes.
BG_PID=""
run_with_heartbeat() {
    local what="$1" start=$SECONDS next=60
    shift
    "$@" &
    BG_PID=$!
    while kill -0 "$BG_PID" 2>/dev/null; do
        sleep 2
        if (( SECONDS - start >= next )); then
            log "  ... still building $what ($(( SECONDS - start ))s)"
            next=$(( next + 60 ))
        fi
    done
    local rc=0
    wait "$BG_PID" || rc=$?
    BG_PID=""
    (( rc == 0 )) || die "building $what failed (exit $rc)"
    log "built $what in $(( SECONDS - start ))s"
}
cleanup() { if [[ -n "$BG_PID" ]]; then kill "$BG_PID" 2>/dev/null || true; fi; }

build() {
    command -v go >/dev/null || die "go is required (pkg/v3 $PULUMI_VERSION needs Go >= its go.mod's go line)"
    log "building Pulumi $PULUMI_VERSION with $(go env GOVERSION) into $BIN (takes minutes when Go's caches are cold)"
    mkdir -p "$BUILD"
    cd "$BUILD"
    export GOWORK=off CGO_ENABLED=0
    # Keep any GOFLAGS from the environment or `go env -w`, add -trimpath.
    local goflags
    goflags="$(go env GOFLAGS)"
    export GOFLAGS="${goflags:+$goflags }-trimpath"

    rm -f go.mod go.sum
    log "downloading $PKG_MOD@$PULUMI_VERSION"
    local pkg_gomod go_line
    pkg_gomod="$(go mod download -json "$PKG_MOD@$PULUMI_VERSION" \
        | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
    [[ -f "$pkg_gomod" ]] || die "could not download $PKG_MOD@$PULUMI_VERSION"
    go_line="$(awk '$1 == "go" { print $2; exit }' "$pkg_gomod")"

    # Wrapper module: requires pkg/v3 and sdk/v3 at the pinned version and
    # repeats pkg/v3's (non-local) replace directives, which `go build
    # module@version` would refuse.
    cat > go.mod <<EOF
module datamesh.local/pulumi-build

go ${go_line}
EOF
    local -a replaces
    mapfile -t replaces < <(replace_flags "$pkg_gomod")
    go mod edit -require="$PKG_MOD@$PULUMI_VERSION" -require="$SDK_MOD@$PULUMI_VERSION" "${replaces[@]}"
    log "wrapper go.mod: go $go_line, ${#replaces[@]} replace(s): ${replaces[*]:-none}"
    cat > tools.go <<'EOF'
//go:build tools

// Keeps the CLI's dependencies in this module's graph for `go mod tidy`.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
EOF
    rm -rf cmd
    mkdir -p cmd/pulumi-language-nodejs
    cp "$HOST_SOURCE" cmd/pulumi-language-nodejs/main.go

    log "resolving dependencies (go mod tidy)"
    go mod tidy
    local v
    for m in "$PKG_MOD" "$SDK_MOD"; do
        v="$(go list -m -f '{{.Version}}' "$m")"
        [[ "$v" == "$PULUMI_VERSION" ]] || die "$m resolved to $v, expected $PULUMI_VERSION"
    done

    local ldflags="-s -w $VERSION_LDFLAG"
    mkdir -p out "$BIN"
    run_with_heartbeat pulumi-language-nodejs \
        go build -ldflags "-s -w -X main.version=$PULUMI_VERSION" -o out/pulumi-language-nodejs ./cmd/pulumi-language-nodejs
    mv -f out/pulumi-language-nodejs "$BIN/pulumi-language-nodejs"
    echo "$HOST_DIGEST" > "$BIN/.language-host-source"
    if [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" version 2>/dev/null)" != "$PULUMI_VERSION" ]]; then
        run_with_heartbeat pulumi \
            go build -ldflags "$ldflags" -o out/pulumi "$PKG_MOD/cmd/pulumi"
        mv -f out/pulumi "$BIN/pulumi"
    fi
}

main() {
    local nm="${1:-}"
    [[ -n "$nm" && -d "$nm" ]] || die "usage: setup-pulumi.sh NODE_MODULES_DIR (got '${nm}')"
    nm="$(cd "$nm" && pwd)"

    local existing
    if ! installed && existing="$(usable_cli_on_path)"; then
        echo "PULUMI_BIN=$existing"
        return 0
    fi
    if ! installed; then
        mkdir -p "$ROOT"
        exec 9>"$ROOT/.lock"
        if command -v flock >/dev/null; then
            flock 9 || die "cannot lock $ROOT/.lock"
        fi
        if installed; then
            log "another run installed Pulumi $PULUMI_VERSION meanwhile"
        else
            local t0=$SECONDS
            (trap cleanup EXIT; build)
            installed || die "built binaries do not report $PULUMI_VERSION"
            log "Pulumi $PULUMI_VERSION ready after $(( SECONDS - t0 ))s"
        fi
    else
        log "Pulumi $PULUMI_VERSION already installed in $BIN"
    fi

    install_launcher "$nm"
    echo "PULUMI_BIN=$BIN"
}

main "$@"
