#!/usr/bin/env bash
# Builds, once per version, what scripts/test-cluster.sh needs for a real single-node Kubernetes
# cluster made of host processes, and caches it under
#   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/test-cluster/
#     kubernetes-v<KUBERNETES_VERSION>/bin   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
#     coredns-v<COREDNS_VERSION>/bin         coredns
#     kube-network-policies-v<KUBE_NETWORK_POLICIES_VERSION>/kube-network-policies   the NetworkPolicy enforcer
#     metrics-server-v<METRICS_SERVER_VERSION>/bin              metrics-server, the resource metrics API (metrics.k8s.io)
#     pause-<tag>/pause.tar                  image datamesh-test/pause:<tag> (docker-archive tarball)
#     busybox-<debian version>/busybox.tar   image datamesh-test/busybox:<debian version>
#     package-index-<lock digest>/           dbt/requirements.txt's files as a package index (PEP 503
#                                            simple/ and files/), which the cluster serves to its pods
# and installs the Debian packages it runs on (etcd, containerd, runc, CNI plugins, iptables, nftables).
#
# Nothing comes from a release site (none is reachable): Kubernetes and CoreDNS are built from the
# Go module proxy, the pause binary from the C source inside the k8s.io/kubernetes module, and the
# images are written as docker-archive tarballs by hand, so no Docker engine is involved.
# Cold: about 20-25 minutes and 2 GB of memory on 2 cores (kube-apiserver dominates); warm: < 1 s.
#
# Usage: setup-test-cluster.sh [packages|kubernetes|coredns|network-policies|metrics-server|pause|busybox|package-index ...]   (default: all)
# The last lines on stdout are KEY=VALUE paths (TEST_CLUSTER_*), for scripts/test-cluster.sh.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$REPO/versions.env"
CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
ROOT="$CACHE/test-cluster"
K8S_DIR="$ROOT/kubernetes-v$KUBERNETES_VERSION"
COREDNS_DIR="$ROOT/coredns-v$COREDNS_VERSION"
KNP_MODULE=sigs.k8s.io/kube-network-policies
KNP_DIR="$ROOT/kube-network-policies-v$KUBE_NETWORK_POLICIES_VERSION"
# Bumped whenever knp_patch changes, so that a cached binary with the old patch is rebuilt.
KNP_STAMP="v$KUBE_NETWORK_POLICIES_VERSION+datamesh.1"
MS_MODULE=sigs.k8s.io/metrics-server
MS_DIR="$ROOT/metrics-server-v$METRICS_SERVER_VERSION"
# The tag build/pause/Makefile of that Kubernetes release carries; checked against it when building.
PAUSE_TAG=3.10.1
PAUSE_DIR="$ROOT/pause-$PAUSE_TAG"
PAUSE_IMAGE="datamesh-test/pause:$PAUSE_TAG"
K8S_MODULE=k8s.io/kubernetes
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

PACKAGES=(etcd-server etcd-client containerd runc containernetworking-plugins iptables conntrack
          busybox-static gcc libc6-dev openssl iproute2 util-linux procps kmod nftables jq)

log() { printf '[setup-test-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stamp_ok() { [[ "$(cat "$1/.version" 2>/dev/null)" == "$2" ]]; }

# --- Debian packages -------------------------------------------------------------------------
is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do is_installed "$p" || printf '%s\n' "$p"; done
}

# Debian's containerd (and etcd-server) would otherwise start system-wide daemons on install; the
# cluster runs its own instances with their own state, so service starts are denied for the install
# the way scripts/setup-system.sh does it.
install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if (( ${#missing[@]} == 0 )); then
        log "Debian packages present"
        return
    fi
    [[ "$(id -u)" == 0 ]] || die "need root to install: ${missing[*]}"
    log "installing ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d backup="" before
    if [[ -e "$policy" ]]; then
        backup="$(mktemp /usr/sbin/policy-rc.d.datamesh-backup.XXXXXX)"
        cp -p "$policy" "$backup"
    fi
    # shellcheck disable=SC2064
    trap "if [[ -n '$backup' ]]; then mv -f '$backup' '$policy'; else rm -f '$policy'; fi; trap - RETURN" RETURN
    printf '#!/bin/sh\n# written by setup-test-cluster.sh: deny service starts during install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    # Daemons that already run (another project's Docker engine and its containerd) are not ours to stop.
    before=" $(pgrep -d ' ' -x 'containerd|etcd' || true) "
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
    local svc pid
    for svc in containerd etcd; do
        if command -v systemctl >/dev/null; then systemctl disable "$svc.service" >/dev/null 2>&1 || true; fi
        if [[ -e "/etc/init.d/$svc" ]] && command -v update-rc.d >/dev/null; then
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    done
    for pid in $(pgrep -x 'containerd|etcd' || true); do
        if [[ "$before" != *" $pid "* ]]; then
            log "stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid) that the package install started"
            kill "$pid" 2>/dev/null || true
        fi
    done
    mapfile -t missing < <(missing_packages)
    (( ${#missing[@]} == 0 )) || die "still not installed: ${missing[*]}"
}

# --- Kubernetes ------------------------------------------------------------------------------
k8s_module_dir() {
    local dir
    dir="$(GOFLAGS=-mod=mod go mod download -json "$K8S_MODULE@v$KUBERNETES_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
    [[ -d "$dir" ]] || die "the Go module proxy did not serve $K8S_MODULE@v$KUBERNETES_VERSION"
    printf '%s\n' "$dir"
}

k8s_built() {
    local c
    for c in "${K8S_COMMANDS[@]}"; do [[ -x "$K8S_DIR/bin/$c" ]] || return 1; done
    stamp_ok "$K8S_DIR/bin" "v$KUBERNETES_VERSION"
}

# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with
# ./staging/... directories, which a module download does not have and a dependency's replaces do
# not apply anyway. A wrapper module pins each of them to its published v0.<minor>.<patch> instead.
build_kubernetes() {
    local src work staging start minor
    src="$(k8s_module_dir)"
    mkdir -p "$K8S_DIR"
    work="$(mktemp -d "$K8S_DIR/build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'; trap - RETURN" RETURN
    staging="v0.${KUBERNETES_VERSION#*.}"
    minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
    {
        printf 'module datamesh.local/test-cluster\n\ngo %s\n\n' \
            "$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$src/go.mod")"
        # The Kubernetes module's own GODEBUG defaults apply only when it is the main module.
        sed -n '/^godebug /p' "$src/go.mod"
        printf '\nrequire %s v%s\n\nreplace (\n' "$K8S_MODULE" "$KUBERNETES_VERSION"
        sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*$#\t\1 => \1 '"$staging"'#p' "$src/go.mod"
        printf ')\n'
    } >"$work/go.mod"
    {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        local c
        for c in "${K8S_COMMANDS[@]}"; do printf '\t_ "%s/cmd/%s"\n' "$K8S_MODULE" "$c"; done
        printf ')\n'
    } >"$work/tools.go"
    log "kubernetes: $(grep -c ' => ' "$work/go.mod") staging modules pinned to $staging"
    start=$SECONDS
    local pkgs=() c
    for c in "${K8S_COMMANDS[@]}"; do pkgs+=("$K8S_MODULE/cmd/$c"); done
    (
        cd "$work"
        export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
        log "kubernetes: resolving dependencies"
        go mod tidy >/dev/null 2>&1 || go mod download >/dev/null
        log "kubernetes: building ${K8S_COMMANDS[*]} v$KUBERNETES_VERSION (~20 min cold on 2 cores)"
        mkdir -p "$work/bin"
        # One invocation: the five commands share most packages, which are then compiled once.
        nice -n 5 go build -trimpath -ldflags "-s -w \
            -X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION \
            -X k8s.io/component-base/version.gitMajor=1 \
            -X k8s.io/component-base/version.gitMinor=$minor \
            -X k8s.io/component-base/version.gitTreeState=clean" \
            -o "$work/bin/" "${pkgs[@]}"
    )
    rm -rf "${K8S_DIR:?}/bin"
    mv "$work/bin" "$K8S_DIR/bin"
    echo "v$KUBERNETES_VERSION" >"$K8S_DIR/bin/.version"
    log "kubernetes: built in $(( SECONDS - start ))s: $("$K8S_DIR/bin/kubelet" --version)"
}

# --- unpatched host components ---------------------------------------------------------------
# go_install NAME DIR VERSION EXTRA_LDFLAGS PACKAGE@VERSION: builds the package, as its upstream
# builds it (static, trimmed paths), into DIR/bin, stamped with VERSION, replacing a stale build.
go_install() {
    local name="$1" dir="$2" version="$3" ldflags="$4" package="$5" start=$SECONDS
    mkdir -p "$dir"
    rm -rf "$dir/bin.tmp"
    # `go install pkg@version` refuses -mod=mod, so the machine's GOFLAGS are not passed on.
    GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$dir/bin.tmp" \
        nice -n 5 go install -trimpath -ldflags "-s -w $ldflags" "$package"
    rm -rf "${dir:?}/bin"
    mv "$dir/bin.tmp" "$dir/bin"
    echo "$version" >"$dir/bin/.version"
    log "$name: built in $(( SECONDS - start ))s"
}

# --- CoreDNS ---------------------------------------------------------------------------------
coredns_built() { [[ -x "$COREDNS_DIR/bin/coredns" ]] && stamp_ok "$COREDNS_DIR/bin" "v$COREDNS_VERSION"; }

build_coredns() {
    log "coredns: building v$COREDNS_VERSION (~6 min cold)"
    go_install coredns "$COREDNS_DIR" "v$COREDNS_VERSION" "" "github.com/coredns/coredns@v$COREDNS_VERSION"
}

# --- NetworkPolicy enforcer -------------------------------------------------------------------
# SIG Network's reference implementation, patched at build time (each edit is checked to apply, so
# a version bump that moves the code fails loudly):
#  1. This machine's kernel lacks CONFIG_NFT_QUEUE (and module support), so the native nftables
#     `queue` statement is refused ("netlink receive: no such file or directory" on every sync) and
#     nothing would be enforced. It has nft_compat and xt_NFQUEUE, what `iptables -j NFQUEUE` uses:
#     the same rules queue with that target instead. Same queue, verdicts and table.
#  2. Upstream only reads an in-cluster token; a -kubeconfig flag is added, as every other host
#     component of the cluster has.
#  3. Upstream stops only on SIGINT; test-cluster.sh's stop_components sends SIGTERM, which would
#     kill it with its table left behind, dropping the listed pods' new connections.
#  4. Its 5 s sleep after the signal (the table is gone ~10 ms after it) is cut to 1 s, within
#     stop_components' grace.
# -disable-nri stays unwired on purpose: v0.8.0 ignores it, and wired through it crashes the
# controller on the first packet to a non-pod address. containerd 1.6 has no NRI; the plugin logs
# "nri plugin exited" once and pod addresses come from the API server.
knp_built() { [[ -x "$KNP_DIR/kube-network-policies" ]] && stamp_ok "$KNP_DIR" "$KNP_STAMP"; }

# Applies the edits above to a writable copy of the module; dies when one does not apply.
knp_patch() {
    local src="$1" main="$1/cmd/main.go" ctl="$1/pkg/networkpolicy/controller.go"
    expect() { [[ "$(grep -cF -- "$2" "$1")" == "$3" ]] || die "kube-network-policies: expected $3× '$2' in ${1#"$src"/}"; }
    expect "$ctl" 'queue := &expr.Queue{Num: uint16(c.config.QueueID)}' 2
    expect "$ctl" 'queue.Flag = expr.QueueFlagBypass' 2
    expect "$main" 'config, err := rest.InClusterConfig()' 1
    expect "$main" '"k8s.io/client-go/rest"' 1
    expect "$main" 'context.Background(), os.Interrupt, unix.SIGINT)' 1
    expect "$main" 'flag.BoolVar(&disableNRI, "disable-nri"' 1
    expect "$main" 'time.Sleep(5 * time.Second)' 1
    sed -i 's/queue := &expr.Queue{Num: uint16(c.config.QueueID)}/queue := xtNFQueue(uint16(c.config.QueueID), c.config.FailOpen)/;
            s/queue.Flag = expr.QueueFlagBypass/_ = queue \/\/ bypass: set by xtNFQueue/' "$ctl"
    cat >"$src/pkg/networkpolicy/xt_nfqueue.go" <<'EOF'
package networkpolicy

// Added by datamesh's setup-test-cluster.sh: the kernel of the test machine has no nft_queue
// (CONFIG_NFT_QUEUE), but has nft_compat and xt_NFQUEUE, so packets are queued with the xtables
// NFQUEUE target (what `iptables -j NFQUEUE` uses) instead of the native queue expression.

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

func xtNFQueue(num uint16, bypass bool) expr.Any {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; } (host byte order)
	info := make([]byte, 6)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 0x01) // NFQ_FLAG_BYPASS
	}
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}
EOF
    sed -i 's#"k8s.io/client-go/rest"#"k8s.io/client-go/tools/clientcmd"#;
            s#config, err := rest.InClusterConfig()#config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)#;
            s#context.Background(), os.Interrupt, unix.SIGINT)#context.Background(), os.Interrupt, unix.SIGINT, unix.SIGTERM)#;
            s#^\(\s*\)flag.BoolVar(&disableNRI, "disable-nri"#\1flag.StringVar(\&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster configuration)")\n\1flag.BoolVar(\&disableNRI, "disable-nri"#;
            s#time.Sleep(5 \* time.Second)#time.Sleep(1 * time.Second)#;
            s#^var ($#var kubeconfig string\n\nvar (#' "$main"
    expect "$main" 'var kubeconfig string' 1
    expect "$main" 'flag.StringVar(&kubeconfig, "kubeconfig"' 1
    expect "$main" 'time.Sleep(1 * time.Second)' 1
}

build_network_policies() {
    local src work start=$SECONDS
    src="$(GOFLAGS=-mod=mod go mod download -json "$KNP_MODULE@v$KUBE_NETWORK_POLICIES_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
    [[ -d "$src/cmd" ]] || die "the Go module proxy did not serve $KNP_MODULE@v$KUBE_NETWORK_POLICIES_VERSION"
    mkdir -p "$KNP_DIR"
    work="$(mktemp -d "$KNP_DIR/build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'; trap - RETURN" RETURN
    cp -r "$src" "$work/src"
    chmod -R u+w "$work/src"
    knp_patch "$work/src"
    log "network-policies: building kube-network-policies v$KUBE_NETWORK_POLICIES_VERSION, patched (~2 min cold on 2 cores, 0.9 GB)"
    (
        cd "$work/src"
        # Upstream's own build: CGO_ENABLED=0 go build ./cmd (the module's only command).
        export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
        nice -n 5 go build -trimpath -ldflags "-s -w" -o "$work/kube-network-policies" ./cmd
    )
    mv -f "$work/kube-network-policies" "$KNP_DIR/kube-network-policies"
    echo "$KNP_STAMP" >"$KNP_DIR/.version"
    log "network-policies: built in $(( SECONDS - start ))s"
}

# --- resource metrics API ----------------------------------------------------------------------
# metrics-server serves metrics.k8s.io (node and pod CPU and memory) through the API server's
# aggregation layer, from the kubelet's /metrics/resource; the HorizontalPodAutoscaler reads it.
# Unpatched; the module has no replace directives, so `go install pkg@version` builds it as upstream's
# Makefile does (CGO_ENABLED=0, -trimpath, version stamped into client-go's version package).
ms_built() { [[ -x "$MS_DIR/bin/metrics-server" ]] && stamp_ok "$MS_DIR/bin" "v$METRICS_SERVER_VERSION"; }

build_metrics_server() {
    log "metrics-server: building v$METRICS_SERVER_VERSION (~4 min cold on 2 cores, 1.2 GB)"
    go_install metrics-server "$MS_DIR" "v$METRICS_SERVER_VERSION" \
        "-X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean" \
        "$MS_MODULE/cmd/metrics-server@v$METRICS_SERVER_VERSION"
}

# --- images without a registry or a Docker engine ----------------------------------------------
# Writes a docker-archive tarball (what `docker save` writes and `ctr images import` reads): one
# layer tar, an image config naming the layer's digest, and manifest.json tying them to a tag.
# Usage: write_image_archive ROOTFS_DIR IMAGE:TAG ENTRYPOINT_JSON CMD_JSON OUT.tar
write_image_archive() {
    local rootfs="$1" ref="$2" entrypoint="$3" cmd="$4" out="$5" tmp diff config
    tmp="$(mktemp -d)"
    # Fixed owner and mtime keep the layer digest stable across rebuilds.
    tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$tmp/layer.tar" .
    diff="$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
    mkdir "$tmp/$diff"
    mv "$tmp/layer.tar" "$tmp/$diff/layer.tar"
    printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/setup-test-cluster.sh"}]}' \
        "$entrypoint" "$cmd" "$diff" >"$tmp/config.json"
    config="$(sha256sum "$tmp/config.json" | cut -d' ' -f1)"
    mv "$tmp/config.json" "$tmp/$config.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config" "$ref" "$diff" >"$tmp/manifest.json"
    tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
        -cf "$out.tmp" manifest.json "$config.json" "$diff"
    mv -f "$out.tmp" "$out"
    rm -rf "$tmp"
}

pause_built() { [[ -s "$PAUSE_DIR/pause.tar" ]] && stamp_ok "$PAUSE_DIR" "$PAUSE_IMAGE v$KUBERNETES_VERSION"; }

build_pause() {
    local src tag rootfs
    src="$(k8s_module_dir)"
    tag="$(sed -n 's/^TAG ?= *//p' "$src/build/pause/Makefile")"
    [[ "$tag" == "$PAUSE_TAG" ]] || log "pause: Kubernetes v$KUBERNETES_VERSION tags pause $tag, this script $PAUSE_TAG"
    mkdir -p "$PAUSE_DIR"
    rootfs="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'; trap - RETURN" RETURN
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG-datamesh" -o "$rootfs/pause" "$src/build/pause/linux/pause.c"
    strip "$rootfs/pause"
    write_image_archive "$rootfs" "$PAUSE_IMAGE" '["/pause"]' 'null' "$PAUSE_DIR/pause.tar"
    echo "$PAUSE_IMAGE v$KUBERNETES_VERSION" >"$PAUSE_DIR/.version"
    log "pause: $PAUSE_DIR/pause.tar ($(du -h "$PAUSE_DIR/pause.tar" | cut -f1))"
}

# A tiny image with a shell and the usual tools (busybox applets), for tests that need a process
# in a pod: Debian's statically linked busybox, one binary plus applet links.
busybox_version() { dpkg-query -W -f='${Version}' busybox-static 2>/dev/null | sed 's/^[0-9]*://; s/-[^-]*$//'; }
busybox_dir() { printf '%s/busybox-%s\n' "$ROOT" "$(busybox_version)"; }
busybox_image() { printf 'datamesh-test/busybox:%s\n' "$(busybox_version)"; }
busybox_built() { local d; d="$(busybox_dir)"; [[ -s "$d/busybox.tar" ]] && stamp_ok "$d" "$(busybox_image)"; }

build_busybox() {
    local dir rootfs applet
    dir="$(busybox_dir)"
    mkdir -p "$dir"
    rootfs="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'; trap - RETURN" RETURN
    mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev,var/tmp}
    chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [[ "$applet" == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    write_image_archive "$rootfs" "$(busybox_image)" 'null' '["sh"]' "$dir/busybox.tar"
    busybox_image >"$dir/.version"
    log "busybox: $dir/busybox.tar ($(du -h "$dir/busybox.tar" | cut -f1))"
}

# --- package index ---------------------------------------------------------------------------
# The test cluster's pods reach nothing off the machine, so the stack's toolchain Job installs dbt
# from this: exactly the files dbt/requirements.txt locks, for the test images' Python (3.11 on
# Debian bookworm, as this machine's), laid out as a simple index that any static server serves.
lock_digest() { sha256sum <"$REPO/dbt/requirements.txt" | cut -c1-12; }
package_index_dir() { printf '%s/package-index-%s\n' "$ROOT" "$(lock_digest)"; }
package_index_built() { [[ -f "$(package_index_dir)/.complete" ]]; }

build_package_index() {
    local python="${DATAMESH_PYTHON:-python3}" dir tmp
    "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
        die "package-index: $python is not Python 3.11, the test images' Python, whose wheels the index must hold"
    dir="$(package_index_dir)"
    tmp="$dir.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp/files"
    log "package-index: downloading the files dbt/requirements.txt locks"
    "$python" -m pip download --quiet --no-input --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
        --requirement "$REPO/dbt/requirements.txt" --dest "$tmp/files" || die "package-index: pip download failed"
    "$python" - "$tmp" <<'PY'
import hashlib, html, os, re, sys
root = sys.argv[1]
projects = {}
for name in sorted(os.listdir(os.path.join(root, "files"))):
    project = re.sub(r"[-_.]+", "-", name.split("-", 1)[0]).lower()
    with open(os.path.join(root, "files", name), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    projects.setdefault(project, []).append((name, digest))
for project, files in projects.items():
    os.makedirs(os.path.join(root, "simple", project))
    links = "".join(f'<a href="../../files/{html.escape(n)}#sha256={d}">{html.escape(n)}</a><br>\n' for n, d in files)
    with open(os.path.join(root, "simple", project, "index.html"), "w") as f:
        f.write(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
with open(os.path.join(root, "simple", "index.html"), "w") as f:
    f.write("<!DOCTYPE html>\n<html><body>\n" + "".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(projects)) + "</body></html>\n")
PY
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "package-index: $dir ($(ls "$dir/files" | wc -l) files, $(du -sh "$dir/files" | cut -f1))"
}

# --- main ------------------------------------------------------------------------------------
piece_ok() {
    case "$1" in
        packages) [[ -z "$(missing_packages)" ]] ;;
        kubernetes) k8s_built ;;
        coredns) coredns_built ;;
        network-policies) knp_built ;;
        metrics-server) ms_built ;;
        pause) pause_built ;;
        busybox) is_installed busybox-static && busybox_built ;;
        package-index) package_index_built ;;
        *) die "unknown piece $1 (packages, kubernetes, coredns, network-policies, metrics-server, pause, busybox, package-index)" ;;
    esac
}

build_piece() {
    case "$1" in
        packages) install_packages ;;
        kubernetes) command -v go >/dev/null || die "go is required"; build_kubernetes ;;
        coredns) command -v go >/dev/null || die "go is required"; build_coredns ;;
        network-policies) command -v go >/dev/null || die "go is required"; build_network_policies ;;
        metrics-server) command -v go >/dev/null || die "go is required"; build_metrics_server ;;
        pause) build_pause ;;
        busybox) build_busybox ;;
        package-index) build_package_index ;;
    esac
}

main() {
    local pieces=("$@") p todo=()
    (( ${#pieces[@]} )) || pieces=(packages kubernetes coredns network-policies metrics-server pause busybox package-index)
    for p in "${pieces[@]}"; do piece_ok "$p" || todo+=("$p"); done
    if (( ${#todo[@]} )); then
        mkdir -p "$ROOT"
        # Concurrent runs (two test suites) wait for one build instead of doing it twice.
        exec 9>"$ROOT/.lock"
        flock 9 || die "cannot lock $ROOT/.lock"
        local start=$SECONDS
        for p in "${todo[@]}"; do
            if piece_ok "$p"; then log "$p: built meanwhile by another run"; else build_piece "$p"; fi
        done
        log "done in $(( SECONDS - start ))s"
    else
        log "all present in $ROOT (${pieces[*]})"
    fi
    echo "TEST_CLUSTER_KUBE_BIN=$K8S_DIR/bin"
    echo "TEST_CLUSTER_COREDNS_BIN=$COREDNS_DIR/bin"
    echo "TEST_CLUSTER_NETWORK_POLICIES_BIN=$KNP_DIR/kube-network-policies"
    echo "TEST_CLUSTER_METRICS_SERVER_BIN=$MS_DIR/bin/metrics-server"
    echo "TEST_CLUSTER_PAUSE_TAR=$PAUSE_DIR/pause.tar"
    echo "TEST_CLUSTER_PAUSE_IMAGE=$PAUSE_IMAGE"
    echo "TEST_CLUSTER_PACKAGE_INDEX=$(package_index_dir)"
    if is_installed busybox-static; then
        echo "TEST_CLUSTER_BUSYBOX_TAR=$(busybox_dir)/busybox.tar"
        echo "TEST_CLUSTER_BUSYBOX_IMAGE=$(busybox_image)"
    fi
}

main "$@"
