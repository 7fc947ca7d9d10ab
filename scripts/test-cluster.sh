#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the test suite, made of host processes: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, CoreDNS and
# kube-network-policies (which enforces NetworkPolicies) and metrics-server (metrics.k8s.io, for
# HorizontalPodAutoscalers), a package index that serves dbt/requirements.txt's files to the pods, with
# containerd + runc + the bridge CNI plugin as the container runtime. The binaries come from
# scripts/setup-test-cluster.sh (built once, cached); everything this script starts keeps its state
# in one folder outside the repository, and `down` removes every trace of it from the machine.
#
# Usage: test-cluster.sh up|down|status
#   up      starts the cluster (or reports the running one) and waits until the node is Ready,
#           metrics.k8s.io serves the node and
#           CoreDNS answers. stdout is exactly:
#             KUBECONFIG=<path>
#             datamesh:<key>=<value>      one line per stack setting (platform, package index, test images)
#   down    stops it and undoes everything it did to the machine; safe to repeat, and after a failed up
#   status  whether it runs, the node's readiness and the KUBECONFIG path; exit 0 only when Ready
#
# Environment:
#   DATAMESH_TEST_CLUSTER_DIR  state folder (default /var/tmp/datamesh-test-cluster)
#   DATAMESH_CACHE             build cache (default ~/.cache/datamesh)
#   DATAMESH_TEST_CLUSTER_KEEP_ON_FAILURE=1  leave a failed `up` running for a post-mortem
#   DATAMESH_TEST_CLUSTER_TEST_IMAGES=0      skip importing scripts/test-images.sh's images
#
# Nothing here may reach beyond the machine: the bridge plugin turns IP forwarding on, so a guard
# that only lets the pod bridge talk to itself goes in first, and the previous value comes back on down.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
STATE="${DATAMESH_TEST_CLUSTER_DIR:-/var/tmp/datamesh-test-cluster}"
STATE="${STATE%/}"
# One cluster at a time on a machine (the bridge, the ports and the cgroup are fixed names); the lock
# lives in the cache, which stays, so that down leaves nothing behind.
LOCK="$CACHE/test-cluster/cluster.lock"

NODE=datamesh-test
BRIDGE=dmtest0
NET_NAME=datamesh-test
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
CLUSTER_DOMAIN=cluster.local
# Ports away from the usual ones, so that another cluster on the machine does not collide.
ETCD_PORT=22379
ETCD_PEER_PORT=22380
API_PORT=26443
CM_PORT=20257
SCHED_PORT=20259
KUBELET_PORT=20250
KUBELET_HEALTHZ_PORT=20248
PROXY_HEALTHZ_PORT=20256
PROXY_METRICS_PORT=20249
NETPOL_METRICS_PORT=20260
# The NFQUEUE the NetworkPolicy enforcer reads (upstream's default is 100, its DaemonSet's 98: clear of both).
NETPOL_QUEUE=20260
# Its nftables table, fixed in its code; removed on down, should it outlive the process.
NETPOL_TABLE=(inet kube-network-policies)
COREDNS_READY_PORT=20181
# metrics-server's HTTPS port, on the bridge address only (the API server's aggregator dials it there).
METRICS_PORT=20262
# The package index (a static file server on the bridge address), from which the stack's toolchain
# Job installs dbt; its access log shows every file a pod fetched.
PACKAGE_INDEX_PORT=20263
# The kubelet puts pods under this cgroup, so that teardown finds exactly this cluster's processes.
CGROUP_ROOT=datamesh-test
# Volume claims get `local` PersistentVolumes from this cluster's own provisioner (see
# provision_volumes): unlike hostPath volumes, the kubelet applies a pod's fsGroup to them, so
# non-root pods can write their volumes, as on a managed cluster's CSI storage.
STORAGE_CLASS=standard
PROVISIONER=datamesh.test/local-volumes
VOLUMES="$STATE/volumes"
FWD_CHAIN=DATAMESH-TEST-FWD
IN_CHAIN=DATAMESH-TEST-IN
# What the kubelet, kube-proxy and the bridge plugin may change; recorded on up, restored on down.
SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
         kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
         net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
         net.netfilter.nf_conntrack_tcp_timeout_close_wait net.netfilter.nf_conntrack_tcp_be_liberal
         net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
# Host folders the components create outside the state folder; removed on down when they were ours.
# (The kubelet's device-plugin folder is fixed in its code, whatever --root-dir says.) Innermost first.
HOST_DIRS=(/var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /var/lib/cni/results /var/lib/cni
           /run/containerd/s /run/containerd)
# In start order (down stops them all at once).
COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-network-policies coredns metrics-server volume-provisioner package-index)

PKI="$STATE/pki"
KCFG="$STATE/kubeconfig"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
CTRD="$STATE/containerd"
CONTAINERD_SOCKET="$CTRD/containerd.sock"
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"

log() { printf '[test-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
kc() { kubectl --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }

# --- binaries --------------------------------------------------------------------------------
# Reads the TEST_CLUSTER_* paths from setup-test-cluster.sh, which builds whatever is missing
# (fast when all is cached).
load_binaries() {
    local line
    while IFS= read -r line; do
        case "$line" in TEST_CLUSTER_*=*) declare -g "$line" ;; esac
    done < <("$REPO/scripts/setup-test-cluster.sh")
    KUBE_BIN="$TEST_CLUSTER_KUBE_BIN"
    COREDNS="$TEST_CLUSTER_COREDNS_BIN/coredns"
    NETPOL="$TEST_CLUSTER_NETWORK_POLICIES_BIN"
    [[ -x "$NETPOL" ]] || die "missing $NETPOL after setup"
    METRICS_SERVER="$TEST_CLUSTER_METRICS_SERVER_BIN"
    [[ -x "$METRICS_SERVER" ]] || die "missing $METRICS_SERVER after setup"
    PACKAGE_INDEX="$TEST_CLUSTER_PACKAGE_INDEX"
    [[ -f "$PACKAGE_INDEX/.complete" ]] || die "missing the package index $PACKAGE_INDEX after setup"
    local b
    for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
        [[ -x "$KUBE_BIN/$b" ]] || die "missing $KUBE_BIN/$b after setup"
    done
    for b in etcd containerd ctr runc iptables ip6tables nft jq kubectl openssl curl busybox; do
        command -v "$b" >/dev/null || die "missing $b on PATH"
    done
    [[ -x /usr/lib/cni/bridge ]] || die "missing the CNI plugins in /usr/lib/cni"
}

# --- processes -------------------------------------------------------------------------------
# Each component runs in its own session (so it outlives the caller's terminal) with its output in
# logs/<name>.log, without the lock's descriptor (8), which it would otherwise hold for its lifetime;
# pids/<name> holds "pid exe" so that a reused pid is never mistaken for it.
start() {
    local name="$1"; shift
    local exe
    exe="$(readlink -f "$(command -v "$1")")"
    # Everything they talk to is on this machine; a proxy from the caller's environment would
    # otherwise be used for the bridge address.
    env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
        setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 8>&- &
    local pid=$! i
    echo "$pid $exe" >"$PIDS/$name"
    # The job is the program only once env and setsid have exec'd it (slow for a large binary not yet
    # in the page cache); until then alive() would take the start for an exit.
    for (( i = 0; i < 200; i++ )); do
        [[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$exe" || ! -d "/proc/$pid" ]] && break
        sleep 0.05
    done
}

pid_of() {
    local pid exe
    [[ -r "$PIDS/$1" ]] || return 1
    read -r pid exe <"$PIDS/$1" || return 1
    [[ -n "$pid" && "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]] || return 1
    echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# Stops the named components together (each takes a second or two to exit on its own) with a short
# grace: the state they would flush is deleted right after, and the API server alone would take tens
# of seconds to drain its watches.
stop_components() {
    local name pid i pids=() names=()
    for name in "$@"; do
        if pid="$(pid_of "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f "$PIDS/$name"
    done
    any_alive() { local p; for p in "$@"; do [[ -d "/proc/$p" ]] && return 0; done; return 1; }
    for (( i = 0; i < 30; i++ )); do
        any_alive "${pids[@]}" || break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if [[ -d "/proc/${pids[i]}" ]]; then
            log "${names[i]} (pid ${pids[i]}) still draining 3s after SIGTERM: SIGKILL"
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        for (( i = 0; i < 20; i++ )); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
    done
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds; gives up early when a
# component named in WATCHED has exited (its log then says why).
WATCHED=()
wait_until() {
    local limit="$1" what="$2"; shift 2
    local deadline=$(( SECONDS + limit )) c
    until "$@" >/dev/null 2>&1; do
        for c in "${WATCHED[@]}"; do
            alive "$c" || { log "$c exited while waiting for $what"; return 1; }
        done
        if (( SECONDS >= deadline )); then
            log "timed out after ${limit}s waiting for $what"
            return 1
        fi
        sleep 0.3
    done
}

ensure_alive() {
    local c
    for c in "$@"; do alive "$c" || die "$c exited; last lines of $LOGS/$c.log:
$(tail -n 25 "$LOGS/$c.log" 2>/dev/null)"; done
}

# --- machine state: sysctls, network, firewall ---------------------------------------------------
sysctl_path() { printf '/proc/sys/%s\n' "${1//.//}"; }

record_sysctls() {
    [[ -e "$STATE/sysctl.saved" ]] && return
    local key file
    for key in "${SYSCTLS[@]}"; do
        file="$(sysctl_path "$key")"
        if [[ -r "$file" ]]; then printf '%s %s\n' "$key" "$(tr '\t' ' ' <"$file")"; fi
    done >"$STATE/sysctl.saved.tmp"
    mv "$STATE/sysctl.saved.tmp" "$STATE/sysctl.saved"
    local d
    for d in "${HOST_DIRS[@]}"; do [[ -e "$d" ]] || echo "$d"; done >"$STATE/host-dirs.ours"
}

restore_sysctls() {
    [[ -r "$STATE/sysctl.saved" ]] || return 0
    local key value file
    while read -r key value; do
        file="$(sysctl_path "$key")"
        [[ -w "$file" ]] || continue
        if [[ "$(tr '\t' ' ' <"$file")" != "$value" ]]; then
            log "restoring $key = $value (was $(tr '\t' ' ' <"$file"))"
            echo "$value" >"$file" || log "could not restore $key"
        fi
    done <"$STATE/sysctl.saved"
}

# The guards live in the mangle table: kube-proxy and the kubelet insert ACCEPT rules at the top of
# filter/FORWARD (e.g. for masqueraded Service traffic), which would otherwise come before them.
install_guards() {
    local forward_before
    forward_before="$(awk '$1 == "net.ipv4.ip_forward" { print $2 }' "$STATE/sysctl.saved")"
    iptables -t mangle -N "$FWD_CHAIN" 2>/dev/null || iptables -t mangle -F "$FWD_CHAIN"
    iptables -t mangle -A "$FWD_CHAIN" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    iptables -t mangle -A "$FWD_CHAIN" -i "$BRIDGE" -j DROP
    iptables -t mangle -A "$FWD_CHAIN" -o "$BRIDGE" -j DROP
    if [[ "$forward_before" == 0 ]]; then
        # Forwarding was off: whatever else the machine would now route stays unrouted. A frame that
        # another bridge hands to one of its containers' veths stays on the machine (Docker's
        # containers talking among themselves): it passes here only because br_netfilter is on.
        iptables -t mangle -A "$FWD_CHAIN" -m physdev --physdev-is-bridged --physdev-out 'veth+' -j RETURN
        iptables -t mangle -A "$FWD_CHAIN" -j DROP
    fi
    iptables -t mangle -C FORWARD -j "$FWD_CHAIN" 2>/dev/null || iptables -t mangle -I FORWARD 1 -j "$FWD_CHAIN"
    # The API server listens on every address (so that both 127.0.0.1 and the bridge address work);
    # only the host itself and the pods may reach it, and nothing from outside may reach the bridge.
    iptables -t mangle -N "$IN_CHAIN" 2>/dev/null || iptables -t mangle -F "$IN_CHAIN"
    iptables -t mangle -A "$IN_CHAIN" -i lo -j RETURN
    iptables -t mangle -A "$IN_CHAIN" -i "$BRIDGE" -j RETURN
    iptables -t mangle -A "$IN_CHAIN" -d "$POD_CIDR" -j DROP
    iptables -t mangle -A "$IN_CHAIN" -p tcp --dport "$API_PORT" -j DROP
    iptables -t mangle -C INPUT -j "$IN_CHAIN" 2>/dev/null || iptables -t mangle -I INPUT 1 -j "$IN_CHAIN"
    ip6tables -t mangle -N "$IN_CHAIN" 2>/dev/null || ip6tables -t mangle -F "$IN_CHAIN"
    ip6tables -t mangle -A "$IN_CHAIN" -i lo -j RETURN
    ip6tables -t mangle -A "$IN_CHAIN" -p tcp --dport "$API_PORT" -j DROP
    ip6tables -t mangle -C INPUT -j "$IN_CHAIN" 2>/dev/null || ip6tables -t mangle -I INPUT 1 -j "$IN_CHAIN"
}

# The kubelet and CoreDNS bind the gateway address before any pod exists, so the bridge is made
# here; the bridge plugin then adopts it (same name, same address).
create_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
    fi
    ip addr replace "$GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

# Deletes every rule that jumps to CHAINS and then the chains, in all tables of iptables and ip6tables.
# Chains matched: KUBE-*, CNI-* and this script's own.
# The components use the nftables-backed iptables; legacy tables are looked at only when the kernel
# already has them (listing them would create them).
iptables_tables() {
    local table
    for table in filter nat mangle raw; do
        echo "iptables $table"
        echo "ip6tables $table"
    done
    if command -v iptables-legacy >/dev/null; then
        sed 's/^/iptables-legacy /' /proc/net/ip_tables_names 2>/dev/null || true
        sed 's/^/ip6tables-legacy /' /proc/net/ip6_tables_names 2>/dev/null || true
    fi
}

remove_chains() {
    local tool table line chain
    local pattern="^(KUBE-|CNI-|$FWD_CHAIN\$|$IN_CHAIN\$)"
    while read -r tool table; do
        "$tool" -t "$table" -S >/dev/null 2>&1 || continue
        # Rules in any chain that jump to a doomed chain (reverse order keeps positions valid).
        while IFS= read -r line; do
            eval "$tool -t $table ${line/#-A /-D }" 2>/dev/null || true
        done < <("$tool" -t "$table" -S 2>/dev/null | grep -E '^-A ' | grep -E -- "-j (KUBE-|CNI-|$FWD_CHAIN |$FWD_CHAIN\$|$IN_CHAIN |$IN_CHAIN\$)" | tac || true)
        while IFS= read -r chain; do
            "$tool" -t "$table" -F "$chain" 2>/dev/null || true
        done < <("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" { print $2 }' | grep -E "$pattern" || true)
        while IFS= read -r chain; do
            "$tool" -t "$table" -X "$chain" 2>/dev/null || log "could not delete $tool -t $table chain $chain"
        done < <("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" { print $2 }' | grep -E "$pattern" || true)
    done < <(iptables_tables)
}

# --- certificates and kubeconfigs ------------------------------------------------------------
# issue NAME SUBJECT USAGE [SANS] [CA]: a certificate signed by the cluster CA, or the CA named.
issue() {
    local name="$1" subject="$2" usage="$3" sans="${4:-}" ca="${5:-ca}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$usage"
        [[ -z "$sans" ]] || echo "subjectAltName=$sans"
    } >"$PKI/$name.ext"
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -set_serial "0x$(openssl rand -hex 12)" \
        -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_pki() {
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -sha256 \
        -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=datamesh-test-ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    issue apiserver "/CN=kube-apiserver" serverAuth \
        "IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$GATEWAY,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
    issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    issue admin "/O=system:masters/CN=datamesh-test-admin" clientAuth
    issue controller-manager "/CN=system:kube-controller-manager" clientAuth
    issue scheduler "/CN=system:kube-scheduler" clientAuth
    issue kube-proxy "/CN=system:kube-proxy" clientAuth
    issue kubelet-client "/O=system:nodes/CN=system:node:$NODE" clientAuth
    issue kubelet-serving "/CN=$NODE" serverAuth "IP:$GATEWAY,DNS:$NODE"
    issue coredns "/CN=datamesh-test:coredns" clientAuth
    issue network-policies "/CN=datamesh-test:network-policies" clientAuth
    # The aggregation layer, as kubeadm sets it up: a CA of its own (front-proxy-ca) for the one client
    # certificate the API server proxies with, so that no other certificate can assert a user to an
    # extension API server through X-Remote-User.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -sha256 \
        -keyout "$PKI/front-proxy-ca.key" -out "$PKI/front-proxy-ca.crt" -subj "/CN=datamesh-test-front-proxy-ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    issue front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
    # metrics-server: its identity towards the API server and the kubelet, and its serving certificate
    # (the aggregator verifies it against the APIService's caBundle as metrics-server.kube-system.svc).
    issue metrics-server "/CN=datamesh-test:metrics-server" clientAuth
    issue metrics-server-serving "/CN=metrics-server.kube-system.svc" serverAuth \
        "IP:$GATEWAY,DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.$CLUSTER_DOMAIN"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

write_kubeconfig() {
    local file="$1" cert="$2" server="${3:-https://127.0.0.1:$API_PORT}"
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: datamesh-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: datamesh-test
  context:
    cluster: datamesh-test
    user: $cert
current-context: datamesh-test
EOF
    chmod 600 "$file"
}

make_kubeconfigs() {
    mkdir -p "$KCFG"
    write_kubeconfig "$ADMIN_KUBECONFIG" admin
    local c
    for c in controller-manager scheduler kube-proxy coredns network-policies metrics-server; do write_kubeconfig "$KCFG/$c.kubeconfig" "$c"; done
    write_kubeconfig "$KCFG/kubelet.kubeconfig" kubelet-client
}

# --- configuration files ---------------------------------------------------------------------
write_configs() {
    mkdir -p "$CTRD" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/kubelet" "$STATE/coredns"
    cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
# Plugins that would write to /opt or want a block device or filesystem this machine lacks.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

# The tasks service needs the v1 runtime loaded (1.6); its runc state stays here too.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$CTRD/runc-v1"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$TEST_CLUSTER_PAUSE_IMAGE"
  # The machine's capability bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj,
  # and every sandbox would fail after a few minutes with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
    cat >"$STATE/cni/net.d/10-$NET_NAME.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$GATEWAY" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
EOF
    # Pods resolve everything through CoreDNS, never through the host's resolver.
    printf 'nameserver %s\n' "$GATEWAY" >"$STATE/kubelet/resolv.conf"
    cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
# Webhook authentication and authorization: kubectl logs/exec/port-forward go through the API server,
# which calls the kubelet with its client certificate.
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
# cgroup v1 machine, no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$GATEWAY]
resolvConf: $STATE/kubelet/resolv.conf
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
# Images come from tarballs and cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# A nearly full disk of a test machine should not evict the tests' pods.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
staticPodPath: ""
serializeImagePulls: false
shutdownGracePeriod: 0s
EOF
    cat >"$STATE/coredns/Corefile" <<EOF
.:53 {
    bind $GATEWAY
    errors
    ready 127.0.0.1:$COREDNS_READY_PORT
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KCFG/coredns.kubeconfig datamesh-test
        pods insecure
        ttl 5
    }
    loadbalance
}
EOF
}

# Objects the cluster needs before its first workload: CoreDNS's read access, the NetworkPolicy
# enforcer's, metrics-server's registration and access, the default StorageClass.
bootstrap_objects() {
    kc apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "datamesh-test:coredns" }
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "datamesh-test:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "datamesh-test:coredns" }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "datamesh-test:coredns" }
---
# The NetworkPolicy enforcer reads pods, namespaces and policies, and writes nothing (upstream's own role).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "datamesh-test:network-policies" }
rules:
- apiGroups: [""]
  resources: [pods, namespaces]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "datamesh-test:network-policies" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "datamesh-test:network-policies" }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "datamesh-test:network-policies" }
---
# metrics-server reads nodes and pods and scrapes each kubelet's /metrics/resource (upstream's system:metrics-server).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "datamesh-test:metrics-server" }
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "datamesh-test:metrics-server" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "datamesh-test:metrics-server" }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "datamesh-test:metrics-server" }
---
# It asks the API server whether a caller may read what it asks for (SubjectAccessReview) and who a
# bearer token belongs to (TokenReview).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "datamesh-test:metrics-server:auth-delegator" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator" }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "datamesh-test:metrics-server" }
---
# Upstream's reader of kube-system/extension-apiserver-authentication. Unused while --client-ca-file
# and --requestheader-client-ca-file are given (nothing is looked up); kept so that dropping them works.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: "datamesh-test:metrics-server:auth-reader", namespace: kube-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "datamesh-test:metrics-server" }
---
# Namespace admins, editors and viewers may read their pods' metrics (kubectl top), as upstream has it.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "datamesh-test:aggregated-metrics-reader"
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
# metrics.k8s.io is served by metrics-server, a host process on the bridge address: a Service without
# selector and its EndpointSlice by hand (the port names must match: the aggregator looks the
# Service's port up by name in the slice), dialled directly thanks to --enable-aggregator-routing.
apiVersion: v1
kind: Service
metadata: { name: metrics-server, namespace: kube-system, labels: { app.kubernetes.io/name: metrics-server } }
spec:
  ports: [{ name: https, port: 443, protocol: TCP, targetPort: $METRICS_PORT }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server
  namespace: kube-system
  labels: { kubernetes.io/service-name: metrics-server, endpointslice.kubernetes.io/managed-by: datamesh-test }
addressType: IPv4
ports: [{ name: https, port: $METRICS_PORT, protocol: TCP }]
endpoints:
- addresses: ["$GATEWAY"]
  conditions: { ready: true }
---
# Its serving certificate is the cluster CA's (metrics-server-serving), so the aggregator verifies it.
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1beta1.metrics.k8s.io }
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: { name: metrics-server, namespace: kube-system, port: 443 }
  caBundle: $(base64 -w0 "$PKI/ca.crt")
  groupPriorityMinimum: 100
  versionPriority: 100
---
# Served by provision_volumes below, a host process like the other components.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: $PROVISIONER
reclaimPolicy: Delete
# The scheduler places the pod first and then waits for its volume; with Immediate binding it would
# find the claim unbound, mark the pod unschedulable and retry only minutes later.
volumeBindingMode: WaitForFirstConsumer
EOF
}

# cgroup v1: the kubelet wants its cgroup root to exist in every hierarchy; a new cpuset starts empty.
make_cgroup_root() {
    local h
    for h in /sys/fs/cgroup/*/; do
        [[ -e "$h/cgroup.procs" ]] || continue
        mkdir -p "$h$CGROUP_ROOT"
        if [[ -e "$h/cpuset.cpus" ]]; then
            cat "$h/cpuset.cpus" >"$h$CGROUP_ROOT/cpuset.cpus"
            cat "$h/cpuset.mems" >"$h$CGROUP_ROOT/cpuset.mems"
        fi
    done
}

# --- up --------------------------------------------------------------------------------------
start_components_early() {
    start etcd etcd --name "$NODE" --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "$NODE=http://127.0.0.1:$ETCD_PEER_PORT" \
        --quota-backend-bytes $(( 2 * 1024 * 1024 * 1024 )) --snapshot-count 10000
    start containerd containerd --config "$CTRD/config.toml"
    start kube-apiserver "$KUBE_BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$GATEWAY" \
        --cert-dir "$PKI/apiserver-generated" \
        --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --client-ca-file "$PKI/ca.crt" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$PKI/ca.crt" \
        --kubelet-preferred-address-types InternalIP,Hostname \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --allow-privileged=true --profiling=false --event-ttl 1h \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
        --enable-aggregator-routing=true
}

start_components_late() {
    start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
        --kubeconfig "$KCFG/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$KCFG/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$KCFG/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$CM_PORT" --cert-dir "$PKI/controller-manager-generated" \
        --leader-elect=false --use-service-account-credentials=true \
        --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
        --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
        --flex-volume-plugin-dir "$STATE/kubelet/volume-plugins" --profiling=false
    start kube-scheduler "$KUBE_BIN/kube-scheduler" \
        --kubeconfig "$KCFG/scheduler.kubeconfig" \
        --authentication-kubeconfig "$KCFG/scheduler.kubeconfig" \
        --authorization-kubeconfig "$KCFG/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$PKI/scheduler-generated" \
        --leader-elect=false --profiling=false
    start kubelet "$KUBE_BIN/kubelet" \
        --config "$STATE/kubelet/config.yaml" --kubeconfig "$KCFG/kubelet.kubeconfig" \
        --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
        --hostname-override "$NODE" --node-ip "$GATEWAY"
    # localhost NodePorts would need route_localnet; NodePorts open only on the bridge address.
    start kube-proxy "$KUBE_BIN/kube-proxy" \
        --kubeconfig "$KCFG/kube-proxy.kubeconfig" --hostname-override "$NODE" \
        --proxy-mode iptables --cluster-cidr "$POD_CIDR" --masquerade-all \
        --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
        --iptables-localhost-nodeports=false --nodeport-addresses "$GATEWAY/32" \
        --healthz-bind-address "127.0.0.1:$PROXY_HEALTHZ_PORT" --metrics-bind-address "127.0.0.1:$PROXY_METRICS_PORT"
    # Upstream's defaults otherwise: fail closed, no AdminNetworkPolicy, and --netfilter-bug-1766-fix,
    # which also puts pods' DNS queries to CoreDNS (a host process on the bridge) through the policies.
    start kube-network-policies "$NETPOL" \
        --kubeconfig "$KCFG/network-policies.kubeconfig" --hostname-override "$NODE" \
        --nfqueue-id "$NETPOL_QUEUE" --metrics-bind-address "127.0.0.1:$NETPOL_METRICS_PORT"
    start coredns "$COREDNS" -conf "$STATE/coredns/Corefile"
    # metrics.k8s.io on the bridge address only; the API server's aggregator proxies to it with
    # front-proxy-client (dialling the EndpointSlice's address, --enable-aggregator-routing). It scrapes
    # the kubelet at its InternalIP, verifying the kubelet's certificate with the cluster CA.
    start metrics-server "$METRICS_SERVER" \
        --kubeconfig "$KCFG/metrics-server.kubeconfig" \
        --authentication-kubeconfig "$KCFG/metrics-server.kubeconfig" \
        --authorization-kubeconfig "$KCFG/metrics-server.kubeconfig" \
        --bind-address "$GATEWAY" --secure-port "$METRICS_PORT" --cert-dir "$PKI/metrics-server-generated" \
        --tls-cert-file "$PKI/metrics-server-serving.crt" --tls-private-key-file "$PKI/metrics-server-serving.key" \
        --client-ca-file "$PKI/ca.crt" \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-port "$KUBELET_PORT" \
        --kubelet-preferred-address-types InternalIP \
        --metric-resolution 15s --profiling=false
    start volume-provisioner bash "$REPO/scripts/test-cluster.sh" provision-volumes
    # The interpreter itself, not a wrapper that execs it (pyenv's shim), so that its pid is the server's.
    # Served through a link in the state folder, so that a server that outlived down shows among the leftovers.
    ln -sfn "$PACKAGE_INDEX" "$STATE/package-index"
    start package-index "$(python3 -c 'import sys; print(sys.executable)')" -m http.server --bind "$GATEWAY" --directory "$STATE/package-index" "$PACKAGE_INDEX_PORT"
}

# The cluster's volume provisioner: a folder under the state per claim, offered as a `local`
# PersistentVolume bound to that claim once the scheduler has placed the claim's first pod; once
# the claim is deleted, the folder and the volume go.
provision_volumes() {
    mkdir -p "$VOLUMES"
    chmod 700 "$VOLUMES"
    local ns name uid size modes pv
    while true; do
        while IFS=$'\t' read -r ns name uid size modes; do
            [[ -n "$uid" ]] || continue
            pv="pvc-$uid"
            mkdir -p "$VOLUMES/$pv"
            kc apply -f - >/dev/null <<EOF || log "could not provision $pv for $ns/$name"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  annotations: { pv.kubernetes.io/provisioned-by: $PROVISIONER }
spec:
  capacity: { storage: "$size" }
  accessModes: [${modes}]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: $STORAGE_CLASS
  claimRef: { namespace: "$ns", name: "$name", uid: "$uid" }
  local: { path: "$VOLUMES/$pv" }
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{ key: kubernetes.io/hostname, operator: In, values: ["$NODE"] }]
EOF
            log "provisioned $pv for $ns/$name ($size)"
        done < <(kc get pvc --all-namespaces -o json 2>/dev/null | jq -r --arg sc "$STORAGE_CLASS" \
            '.items[] | select(.status.phase == "Pending" and .spec.storageClassName == $sc and (.spec.volumeName // "") == ""
                and .metadata.annotations["volume.kubernetes.io/selected-node"] != null)
             | [.metadata.namespace, .metadata.name, .metadata.uid, .spec.resources.requests.storage, (.spec.accessModes | join(","))] | @tsv')
        # A Released volume's claim is gone, and no pod still mounts it (the claim's protection finalizer saw to that).
        while IFS= read -r pv; do
            [[ "$pv" == pvc-* ]] || continue
            rm -rf "${VOLUMES:?}/$pv"
            kc delete pv "$pv" --wait=false >/dev/null 2>&1 && log "deleted $pv"
        done < <(kc get pv -o json 2>/dev/null | jq -r --arg p "$PROVISIONER" \
            '.items[] | select(.status.phase == "Released" and .metadata.annotations["pv.kubernetes.io/provisioned-by"] == $p) | .metadata.name')
        sleep 2
    done
}

# Pods on the one bridge reach each other without being routed: only br_netfilter hands their
# packets to the netfilter hooks the enforcer's chains hang on (the key is in SYSCTLS, restored on down).
enable_bridge_netfilter() {
    local f=/proc/sys/net/bridge/bridge-nf-call-iptables
    [[ -e "$f" ]] || modprobe br_netfilter 2>/dev/null || true
    [[ -e "$f" ]] || die "no $f: the kernel lacks br_netfilter, and pod-to-pod traffic would pass NetworkPolicies unchecked"
    echo 1 >"$f"
}

# Ready once its table is in place and it reads its queue (it binds the queue after its first sync).
netpol_ready() {
    nft list table "${NETPOL_TABLE[@]}" >/dev/null 2>&1 &&
        awk -v q="$NETPOL_QUEUE" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue
}

# The enforcer deletes its table on SIGTERM; this is for one that was killed, whose table would keep
# dropping the listed pods' new connections.
remove_netpol_table() {
    command -v nft >/dev/null || return 0
    if nft list table "${NETPOL_TABLE[@]}" >/dev/null 2>&1; then
        nft delete table "${NETPOL_TABLE[@]}" || log "could not delete nftables table ${NETPOL_TABLE[*]}"
    fi
}

api_ready() { curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT/readyz" | grep -qx ok; }
node_ready() { [[ "$(kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
coredns_ready() {
    curl -sf --max-time 2 "http://127.0.0.1:$COREDNS_READY_PORT/ready" >/dev/null &&
        busybox nslookup "kubernetes.default.svc.$CLUSTER_DOMAIN" "$GATEWAY" 2>/dev/null | grep -q "$API_SERVICE_IP"
}
# The resource metrics API answers with the node: the APIService is Available and metrics-server has
# scraped the kubelet twice (a rate needs two samples, one resolution apart).
metrics_ready() {
    kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>/dev/null |
        jq -e --arg n "$NODE" '.items[] | select(.metadata.name == $n) | .usage.cpu' >/dev/null
}
default_sa_ready() { kc -n default get serviceaccount default; }
package_index_ready() { curl -sf --noproxy '*' --max-time 2 -o /dev/null "http://$GATEWAY:$PACKAGE_INDEX_PORT/simple/dbt-core/"; }

import_image() { ctr -a "$CONTAINERD_SOCKET" -n k8s.io images import "$1" >/dev/null; }

# Imports the cluster's own images, then the test suite's (scripts/test-images.sh, when present).
import_images() {
    import_image "$TEST_CLUSTER_PAUSE_TAR"
    [[ -z "${TEST_CLUSTER_BUSYBOX_TAR:-}" ]] || import_image "$TEST_CLUSTER_BUSYBOX_TAR"
    import_test_images
}

test_images_wanted() { [[ -f "$REPO/scripts/test-images.sh" && "${DATAMESH_TEST_CLUSTER_TEST_IMAGES:-1}" != 0 ]]; }

import_test_images() {
    test_images_wanted || return 0
    local t=$SECONDS
    log "importing the test images (scripts/test-images.sh import $CONTAINERD_SOCKET)"
    bash "$REPO/scripts/test-images.sh" import "$CONTAINERD_SOCKET" >&2
    touch "$STATE/test-images.imported"
    log "test images imported in $(( SECONDS - t ))s"
}

print_outputs() {
    echo "KUBECONFIG=$ADMIN_KUBECONFIG"
    echo "datamesh:platform=kubernetes"
    echo "datamesh:pipIndexUrl=http://$GATEWAY:$PACKAGE_INDEX_PORT/simple/"
    local settings="$CACHE/test-images/settings"
    # Printed from the script, not the file a build left, so that a line added since (docsImage) shows with cached images too.
    if [[ -r "$settings" && "${DATAMESH_TEST_CLUSTER_TEST_IMAGES:-1}" != 0 ]]; then
        bash "$REPO/scripts/test-images.sh" settings | grep -E '^datamesh:[A-Za-z0-9_.]+=' | grep -v '^datamesh:platform=' || true
    fi
}

cluster_running() { alive kube-apiserver && alive kubelet; }

up() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (network, mounts, cgroups)"
    if [[ -d "$STATE" ]] && cluster_running && node_ready; then
        log "already running (state in $STATE)"
        # Started without the test images (DATAMESH_TEST_CLUSTER_TEST_IMAGES=0), wanted now.
        if test_images_wanted && [[ ! -e "$STATE/test-images.imported" ]]; then import_test_images; fi
        print_outputs
        return
    fi
    if [[ -e "$STATE" ]]; then
        log "cleaning up what a previous run left in $STATE"
        down_locked
    fi
    local start=$SECONDS
    load_binaries
    mkdir -p "$STATE" "$LOGS" "$PIDS" "$STATE/pod-logs"
    chmod 700 "$STATE"
    record_sysctls
    # Any failure from here on (die, set -e) tears down what was started, unless asked not to.
    trap up_failed EXIT
    install_guards
    create_bridge
    # Pods reach Services and one another only through the host's forwarding (guarded above).
    echo 1 >/proc/sys/net/ipv4/ip_forward
    enable_bridge_netfilter
    make_cgroup_root
    make_pki
    make_kubeconfigs
    write_configs
    log "starting etcd, containerd, kube-apiserver"
    start_components_early
    WATCHED=(etcd containerd kube-apiserver)
    wait_until 30 "containerd's socket" test -S "$CONTAINERD_SOCKET" || { ensure_alive containerd; false; }
    # In its own process group, so that a failed up stops it and the ctr it runs.
    set -m
    import_images >"$LOGS/images.log" 2>&1 &
    set +m
    IMAGES_PID=$!
    wait_until 60 "kube-apiserver" api_ready || { ensure_alive etcd kube-apiserver; false; }
    log "kube-apiserver ready after $(( SECONDS - start ))s"
    bootstrap_objects
    start_components_late
    WATCHED=("${COMPONENTS[@]}")
    wait_until 60 "node $NODE Ready" node_ready || { ensure_alive "${COMPONENTS[@]}"; false; }
    wait_until 30 "kube-network-policies' nftables table" netpol_ready || { ensure_alive kube-network-policies; false; }
    log "node Ready after $(( SECONDS - start ))s"
    wait_until 30 "CoreDNS" coredns_ready || { ensure_alive coredns; false; }
    wait_until 60 "metrics-server (metrics.k8s.io)" metrics_ready || { ensure_alive metrics-server; false; }
    wait_until 30 "the default service account" default_sa_ready || { ensure_alive kube-controller-manager; false; }
    wait_until 30 "the package index" package_index_ready || { ensure_alive package-index; false; }
    log "cluster ready (node Ready, CoreDNS answers, metrics.k8s.io serves the node) after $(( SECONDS - start ))s"
    if ! wait "$IMAGES_PID"; then
        die "importing images failed:
$(tail -n 25 "$LOGS/images.log")"
    fi
    cat "$LOGS/images.log" >&2
    ensure_alive "${COMPONENTS[@]}"
    trap - EXIT
    log "cluster up in $(( SECONDS - start ))s; KUBECONFIG=$ADMIN_KUBECONFIG"
    print_outputs
}

up_failed() {
    local rc=$?
    trap - EXIT
    (( rc != 0 )) || return 0
    local c
    [[ -z "${IMAGES_PID:-}" ]] || kill -TERM -- "-$IMAGES_PID" 2>/dev/null || true
    log "up failed; last log lines:"
    for c in "${COMPONENTS[@]}"; do
        if [[ -s "$LOGS/$c.log" ]]; then log "--- $c"; tail -n 8 "$LOGS/$c.log" >&2; fi
    done
    if [[ "${DATAMESH_TEST_CLUSTER_KEEP_ON_FAILURE:-}" == 1 ]]; then
        log "left running for inspection (DATAMESH_TEST_CLUSTER_KEEP_ON_FAILURE=1); run: $0 down"
    else
        down_locked
    fi
    exit 1
}

# --- down ------------------------------------------------------------------------------------
# Lets the kubelet take the pods down itself (CNI DEL, volume unmounts) while it still can; whatever
# is left after that is removed by force below.
drain_pods() {
    alive kube-apiserver && alive kubelet && [[ -r "$ADMIN_KUBECONFIG" ]] || return 0
    # No controller may recreate what is deleted, and no new pod may be scheduled.
    stop_components kube-controller-manager kube-scheduler
    local t=$SECONDS
    kc delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    pods_gone() {
        [[ -z "$(ctr -a "$CONTAINERD_SOCKET" -n k8s.io tasks ls -q 2>/dev/null)" ]] &&
            [[ -z "$(ip -o link show master "$BRIDGE" 2>/dev/null)" ]]
    }
    wait_until 30 "the kubelet to stop the pods" pods_gone || true
    log "pods stopped in $(( SECONDS - t ))s"
}

# Processes in this cluster's cgroups: containers whose shim or kubelet died before stopping them.
kill_pod_processes() {
    local procs pid
    for procs in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
        [[ -d "$procs" ]] || continue
        while IFS= read -r pid; do
            kill -KILL "$pid" 2>/dev/null || true
        done < <(find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done
}

# containerd-shim-runc-v2 processes outlive containerd by design; those of this containerd name its
# socket in their command line. Their sockets live in /run/containerd/s, named by a hash of
# "<containerd socket>/<namespace>/<id>".
kill_shims() {
    local pid args ns id
    for pid in $(pgrep -f "containerd-shim.* -address $CONTAINERD_SOCKET" || true); do
        args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || continue
        ns="$(sed -n 's/.*-namespace \([^ ]*\).*/\1/p' <<<"$args")"
        id="$(sed -n 's/.* -id \([^ ]*\).*/\1/p' <<<"$args")"
        kill -KILL "$pid" 2>/dev/null || true
        if [[ -n "$ns" && -n "$id" ]]; then
            rm -f "/run/containerd/s/$(printf '%s' "$CONTAINERD_SOCKET/$ns/$id" | sha256sum | cut -d' ' -f1)"
        fi
    done
}

# Mount points under PREFIX, innermost (latest) first; /proc/self/mountinfo escapes spaces as \040.
mounts_under() {
    awk -v p="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m "/", p) == 1) print m }' /proc/self/mountinfo | tac
}

unmount_all() {
    local prefix m
    for prefix in "$@"; do
        while IFS= read -r m; do
            [[ -n "$m" ]] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
        done < <(mounts_under "$prefix")
    done
}

remove_cgroups() {
    local root
    for root in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
        [[ -d "$root" ]] || continue
        find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

remove_network() {
    local link
    # veths whose pod namespace is gone vanish with it; any still on the bridge go explicitly.
    for link in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
        ip link del "$link" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    remove_chains
    remove_netpol_table
    # libcni's result cache, written by containerd for this network only.
    rm -f /var/lib/cni/results/"$NET_NAME"-* 2>/dev/null || true
}

remove_host_files() {
    local path
    # The kubelet links container logs into /var/log/containers; this cluster's links point into its state.
    if [[ -d /var/log/containers ]]; then
        find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
    fi
    if [[ -r "$STATE/host-dirs.ours" ]]; then
        while IFS= read -r path; do
            if [[ "$path" == /var/lib/kubelet/device-plugins ]]; then rm -f "$path/kubelet.sock"; fi
            if [[ -d "$path" ]]; then rmdir "$path" 2>/dev/null || true; fi
        done <"$STATE/host-dirs.ours"
    fi
}

down_locked() {
    local start=$SECONDS
    WATCHED=()
    if [[ ! -e "$STATE" ]]; then
        log "nothing to stop: $STATE does not exist"
    else
        mkdir -p "$PIDS"
        drain_pods
        stop_components "${COMPONENTS[@]}"
        kill_pod_processes
        kill_shims
        unmount_all "$STATE"
        remove_cgroups
        remove_network
        restore_sysctls
        remove_host_files
        rm -rf "$STATE" || { unmount_all "$STATE"; rm -rf "$STATE"; }
        log "down in $(( SECONDS - start ))s"
    fi
    report_leftovers
}

# Prints anything of this cluster that is still on the machine; returns 1 when something is.
report_leftovers() {
    local left=() out
    out="$(pgrep -af -- "$STATE" | grep -v -- "test-cluster.sh" || true)"
    [[ -z "$out" ]] || left+=("processes: $out")
    out="$(mounts_under "$STATE")"
    [[ -z "$out" ]] || left+=("mounts: $out")
    out="$(ip -o link show "$BRIDGE" 2>/dev/null || true)"
    [[ -z "$out" ]] || left+=("links: $out")
    # The bridge plugin's host-side veths; another runtime on the machine may own some.
    out="$(ip -o link show type veth 2>/dev/null || true)"
    [[ -z "$out" ]] || left+=("veth links (this cluster's or another runtime's): $out")
    local tool table
    while read -r tool table; do
        out="$("$tool" -t "$table" -S 2>/dev/null | grep -E "KUBE-|CNI-|$FWD_CHAIN|$IN_CHAIN" || true)"
        [[ -z "$out" ]] || left+=("$tool -t $table: $out")
    done < <(iptables_tables)
    out="$(ls -d /sys/fs/cgroup/*/"$CGROUP_ROOT" 2>/dev/null || true)"
    [[ -z "$out" ]] || left+=("cgroups: $out")
    if nft list table "${NETPOL_TABLE[@]}" >/dev/null 2>&1; then left+=("nftables table: ${NETPOL_TABLE[*]}"); fi
    [[ ! -e "$STATE" ]] || left+=("state folder: $STATE")
    if (( ${#left[@]} )); then
        log "LEFT ON THE MACHINE:"
        printf '  %s\n' "${left[@]}" >&2
        return 1
    fi
    log "nothing left: no processes, mounts, links, chains, nftables table, cgroups or state of the test cluster;" \
        "net.ipv4.ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
}

# --- status ----------------------------------------------------------------------------------
status() {
    local running=no ready=unknown c
    if [[ -d "$STATE" ]] && cluster_running; then running=yes; fi
    if [[ "$running" == yes ]]; then
        ready="$(kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo unknown)"
        [[ -n "$ready" ]] || ready=unknown
    fi
    echo "running: $running"
    echo "node $NODE Ready: $ready"
    if [[ -d "$PIDS" ]]; then
        for c in "${COMPONENTS[@]}"; do
            if alive "$c"; then echo "  $c: pid $(pid_of "$c")"; elif [[ -e "$PIDS/$c" ]]; then echo "  $c: exited"; fi
        done
    fi
    echo "KUBECONFIG=$ADMIN_KUBECONFIG"
    [[ "$running" == yes && "$ready" == True ]]
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
        up|down) ;;
        status) status; return ;;
        # Internal: the volume provisioner, started by up as one of the cluster's components.
        provision-volumes) provision_volumes; return ;;
        *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
    esac
    [[ "$(id -u)" == 0 ]] || die "must run as root"
    mkdir -p "$(dirname "$LOCK")"
    exec 8>"$LOCK"
    flock 8 || die "cannot lock $LOCK"
    case "$cmd" in
        up) up ;;
        down) down_locked ;;
    esac
}

main "$@"
