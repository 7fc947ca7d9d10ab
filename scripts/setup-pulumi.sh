#!/usr/bin/env bash
# setup-pulumi.sh [NODE_MODULES_DIR]
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
# NODE_MODULES_DIR (optional): the project's node_modules. The launcher script
# is copied from NODE_MODULES_DIR/@pulumi/pulumi/pulumi-resource-pulumi-nodejs
# (it ships at the root of the @pulumi/pulumi npm package). Without it, and if
# the bin dir has no launcher yet, an identical copy of the upstream script is
# written. The launcher only needs `node` on PATH; it resolves
# @pulumi/pulumi/cmd/dynamic-provider from the working directory (the Pulumi
# project), so it is not tied to the node_modules it was copied from.
#
# The Node.js language host is the Go module
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, which is
# never tagged; the Go module proxy reachable from this project's machines does
# not serve it at any pseudo-version. Its source (package main, 4 files, Apache
# License 2.0, Copyright Pulumi Corporation) is therefore embedded verbatim at
# the end of this script, taken from github.com/pulumi/pulumi at tag v3.248.0
# (commit a88168d865b7fd428e5a929cc54aeceaf72d203f; unchanged at the
# pkg/v3.248.0 commit dc7edd58bc13179f81b80983aab4eb7f74a01b41), and is built
# as a package of the wrapper module below, against pkg/v3 and sdk/v3 v3.248.0.
# The files' SHA-256 sums are checked before building.
#
# Progress goes to stderr as "[setup-pulumi] ..."; the last line on stdout is
#   PULUMI_BIN=<bin dir>
set -euo pipefail

PULUMI_VERSION=v3.248.0
PKG_MOD=github.com/pulumi/pulumi/pkg/v3
SDK_MOD=github.com/pulumi/pulumi/sdk/v3
VERSION_LDFLAG="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}"
LAUNCHER=pulumi-resource-pulumi-nodejs

CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
ROOT="$CACHE/pulumi/$PULUMI_VERSION"
BIN="$ROOT/bin"
BUILD="$ROOT/build"

log() { printf '[setup-pulumi] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when both binaries exist and report the pinned version.
installed() {
    [[ -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]] || return 1
    local v lv
    v="$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" version 2>/dev/null)" || return 1
    lv="$("$BIN/pulumi-language-nodejs" -version 2>/dev/null)" || return 1
    [[ "$v" == "$PULUMI_VERSION" && "$lv" == "$PULUMI_VERSION" ]]
}

# Installs the dynamic-provider launcher into $BIN (see header).
install_launcher() {
    local nm="${1:-}" src tmp
    if [[ -n "$nm" ]]; then
        src="$nm/@pulumi/pulumi/$LAUNCHER"
        if [[ -f "$src" ]]; then
            if ! cmp -s "$src" "$BIN/$LAUNCHER"; then
                tmp="$BIN/.$LAUNCHER.$$"
                cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$BIN/$LAUNCHER"
                log "installed $LAUNCHER from $src"
            fi
            return 0
        fi
        log "WARNING: $src not found (is @pulumi/pulumi installed in $nm?)"
    fi
    if [[ ! -x "$BIN/$LAUNCHER" ]]; then
        # Same content as sdk/nodejs/dist/pulumi-resource-pulumi-nodejs upstream.
        tmp="$BIN/.$LAUNCHER.$$"
        cat > "$tmp" <<'LAUNCHER_EOF'
#!/bin/sh
PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")
if [ ! -z "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ]; then
    node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" $@
fi
LAUNCHER_EOF
        chmod 0755 "$tmp" && mv -f "$tmp" "$BIN/$LAUNCHER"
        log "installed $LAUNCHER (built-in copy of the upstream launcher)"
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
sha256_check() {
    if command -v sha256sum >/dev/null; then sha256sum --quiet -c -; else shasum -a 256 --quiet -c -; fi
}
cleanup() { if [[ -n "$BG_PID" ]]; then kill "$BG_PID" 2>/dev/null || true; fi; }

build() {
    command -v go >/dev/null || die "go is required (pkg/v3 $PULUMI_VERSION needs Go >= its go.mod's go line)"
    log "building Pulumi $PULUMI_VERSION with $(go env GOVERSION) into $BIN (cold build: several minutes)"
    mkdir -p "$BUILD"
    cd "$BUILD"
    export GOWORK=off CGO_ENABLED=0
    export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"

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
    write_language_host_sources cmd/pulumi-language-nodejs
    (cd cmd/pulumi-language-nodejs && sha256_check <<'EOF'
9b7874aeac74a59f463e509caf611203dff104422cd31982e201cc42cdae50f0  main.go
dde75c5cb2020b396b99de4626755052e56851223750ba99f28bfb1776ad32e5  installcache.go
3519f803dfde34fda26aa944ee1cf3d4e37bf825d4ac263e52312caaa148c549  proxy.go
c5f22beecc7714dbad57682d4aa1d57ceba3371aaa5f51aa89c7b164e08c4077  proxy_unix.go
EOF
    ) || die "embedded language host sources do not match upstream"

    log "resolving dependencies (go mod tidy)"
    go mod tidy
    local v
    for m in "$PKG_MOD" "$SDK_MOD"; do
        v="$(go list -m -f '{{.Version}}' "$m")"
        [[ "$v" == "$PULUMI_VERSION" ]] || die "$m resolved to $v, expected $PULUMI_VERSION"
    done

    local ldflags="-s -w $VERSION_LDFLAG"
    mkdir -p out
    run_with_heartbeat pulumi-language-nodejs \
        go build -ldflags "$ldflags" -o out/pulumi-language-nodejs ./cmd/pulumi-language-nodejs
    run_with_heartbeat pulumi \
        go build -ldflags "$ldflags" -o out/pulumi "$PKG_MOD/cmd/pulumi"

    mkdir -p "$BIN"
    mv -f out/pulumi-language-nodejs "$BIN/pulumi-language-nodejs"
    mv -f out/pulumi "$BIN/pulumi"
}

main() {
    local nm="${1:-}"
    if [[ -n "$nm" && ! -d "$nm" ]]; then die "node_modules dir '$nm' does not exist"; fi
    if [[ -n "$nm" ]]; then nm="$(cd "$nm" && pwd)"; fi

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

write_language_host_sources() {
    die "the Node.js language host sources are not part of this revision"
}

main "$@"
