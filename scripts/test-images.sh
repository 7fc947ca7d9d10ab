#!/usr/bin/env bash
# Container images for the project's Kubernetes test cluster, built here without any registry.
#
#   scripts/test-images.sh build [NAME...]     build (or reuse) the images and save them as tarballs
#   scripts/test-images.sh import SOCKET [NAME...]
#                                              import them into a containerd (namespace k8s.io),
#                                              building first whatever is missing or out of date
#   scripts/test-images.sh settings            print the stack config lines that select them
#   scripts/test-images.sh smoke [NAME...]     build, then start each image and check its contract
#
# NAMEs: postgres mariadb trino seaweedfs python (default: all). The images stand in for the
# official ones the stack uses by default, under honest names (datamesh-test/<name>:<version>);
# images/<name>/ holds each Dockerfile and its small scripts.
#
# Builder: Debian's Docker engine (package docker.io; installed here if missing, its services
# neither started nor enabled). This script runs its own containerd and dockerd, only while it
# needs them, with their own state, sockets and cgroup parent under the cache, no bridge and no
# iptables, forwarding or masquerading changes, and stops them on exit. Builds run with
# `--network host`. The base image is `debootstrap --variant=minbase` of Debian, imported as
# datamesh-test/debian:<suite>.
#
# Cache: ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/test-images/
#   base/<suite>-minbase.tar(.sha256)   the base root file system
#   weed/<module version>/weed          the SeaweedFS binary, built from the Go module proxy
#   images/<name>.tar .key .ref         each saved image (`docker save`), the key it was built
#                                       for and its reference; a changed Dockerfile, script or
#                                       input version changes the key and rebuilds that image only
#   contexts/<name>/                    build contexts (large inputs hard-linked)
#   engine/                             the Docker engine's state while it runs (kept as build cache)
#   settings                            the stack config lines, written after a build
#   logs/                               build logs
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$REPO/versions.env"

log() { printf '[test-images] %s\n' "$*" >&2; }
die() { printf '[test-images] ERROR: %s\n' "$*" >&2; exit 1; }

CACHE_ROOT="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
CACHE="$CACHE_ROOT/test-images"
ENGINE="$CACHE/engine"
SUITE="${TEST_IMAGES_DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_REF="datamesh-test/debian:$SUITE"
ALL_NAMES=(postgres mariadb trino seaweedfs python)
DOCKER_BIN=/usr/bin/docker
TRINO_CACHE="$CACHE_ROOT/trino/$TRINO_VERSION"
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
# The Trino plugins in the image: the connectors the stack configures (catalogs/trino.ts:
# postgresql, mariadb, iceberg; Iceberg's S3 file system is inside its plugin), the file password
# authenticator, and geospatial, whose Geometry type the PostgreSQL connector needs to start.
TRINO_IMAGE_PLUGINS="postgresql mariadb iceberg password-authenticators geospatial"
# Bumped when this script changes how every image is made.
RECIPE=1


image_ref() {
    case "$1" in
        postgres) echo "datamesh-test/postgres:$TEST_POSTGRES_MAJOR" ;;
        mariadb) echo "datamesh-test/mariadb:$TEST_MARIADB_SERIES" ;;
        trino) echo "datamesh-test/trino:$TRINO_VERSION" ;;
        seaweedfs) echo "datamesh-test/seaweedfs:$SEAWEEDFS_VERSION" ;;
        python) echo "datamesh-test/python:3.11" ;;
        *) die "unknown image '$1' (known: ${ALL_NAMES[*]})" ;;
    esac
}

config_key() {
    case "$1" in
        postgres) echo postgresImage ;;
        mariadb) echo mariadbImage ;;
        trino) echo trinoImage ;;
        seaweedfs) echo seaweedfsImage ;;
        python) echo dbtImage ;;
    esac
}

settings_text() {
    local name
    for name in "${ALL_NAMES[@]}"; do
        printf 'datamesh:%s=%s\n' "$(config_key "$name")" "$(image_ref "$name")"
    done
    # The docs server needs python3 and chown, which the Python test image has; without this line a
    # stack keeps the default docs image, which the test cluster cannot pull.
    printf 'datamesh:docsImage=%s\n' "$(image_ref python)"
    # Plain Python, as the default dbtImage: the stack installs dbt into its toolchain volume.
    printf 'datamesh:dbtToolchain=volume\n'
}

# ------------------------------------------------------------------ the Docker engine
install_docker() {
    if [ -x /usr/sbin/dockerd ] && [ -x "$DOCKER_BIN" ] && command -v containerd >/dev/null && command -v runc >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "Debian's docker.io is not installed and installing it needs root"
    log "installing Debian's docker.io (its services are neither started nor enabled)"
    local policy=/usr/sbin/policy-rc.d backup=""
    if [ -e "$policy" ]; then
        backup="$(mktemp /usr/sbin/policy-rc.d.test-images-backup.XXXXXX)"
        cp -p "$policy" "$backup"
    fi
    printf '#!/bin/sh\n# written by test-images.sh: deny service starts during install\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    local rc=0
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker.io >/dev/null
    } || rc=$?
    if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
    [ "$rc" = 0 ] || die "apt-get install docker.io failed ($rc)"
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
    fi
}

ENGINE_STARTED=0
CONTAINERD_PID=""
DOCKERD_PID=""
CGROUP_PARENT=datamesh-test-images
KEY_JSON_EXISTED=0
SMOKE_CONTAINERS=()

docker_() { DOCKER_BUILDKIT=1 "$DOCKER_BIN" -H "unix://$ENGINE/docker.sock" "$@"; }

start_engine() {
    [ "$ENGINE_STARTED" = 1 ] && return 0
    install_docker
    mkdir -p "$ENGINE/data" "$ENGINE/containerd" "$ENGINE/run" "$CACHE/logs"
    [ ${#ENGINE} -le 60 ] || die "the cache path $ENGINE is too long for the engine's sockets; set DATAMESH_CACHE to a shorter folder"
    if [ -S "$ENGINE/docker.sock" ] && docker_ version >/dev/null 2>&1; then
        die "a Docker engine already answers on $ENGINE/docker.sock (another build running?)"
    fi
    rm -rf "$ENGINE/run" && mkdir -p "$ENGINE/run"
    [ -e /etc/docker/key.json ] && KEY_JSON_EXISTED=1
    ENGINE_STARTED=1
    trap stop_engine EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    cat > "$ENGINE/containerd.toml" <<EOF
version = 2
root = "$ENGINE/containerd"
state = "$ENGINE/run/containerd-state"
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ENGINE/run/containerd.sock"
[ttrpc]
  address = "$ENGINE/run/containerd-ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
EOF
    containerd --config "$ENGINE/containerd.toml" --log-level warn >"$CACHE/logs/containerd.log" 2>&1 &
    CONTAINERD_PID=$!
    local i
    for i in $(seq 60); do
        [ -S "$ENGINE/run/containerd.sock" ] && break
        kill -0 "$CONTAINERD_PID" 2>/dev/null || die "containerd stopped at once; see $CACHE/logs/containerd.log"
        sleep 0.5
    done
    [ -S "$ENGINE/run/containerd.sock" ] || die "containerd did not start; see $CACHE/logs/containerd.log"

    printf '{\n  "deprecated-key-path": "%s"\n}\n' "$ENGINE/key.json" > "$ENGINE/daemon.json"
    dockerd \
        --config-file "$ENGINE/daemon.json" \
        --data-root "$ENGINE/data" \
        --exec-root "$ENGINE/run/docker" \
        --pidfile "$ENGINE/run/dockerd.pid" \
        --host "unix://$ENGINE/docker.sock" \
        --containerd "$ENGINE/run/containerd.sock" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --oom-score-adjust=0 \
        --cgroup-parent="$CGROUP_PARENT" \
        --storage-driver=overlay2 --log-level=warn \
        >"$CACHE/logs/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for i in $(seq 120); do
        docker_ version >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || die "dockerd stopped at once; see $CACHE/logs/dockerd.log"
        sleep 0.5
    done
    docker_ version >/dev/null 2>&1 || die "dockerd did not answer on $ENGINE/docker.sock; see $CACHE/logs/dockerd.log"
    log "Docker engine up (dockerd pid $DOCKERD_PID, containerd pid $CONTAINERD_PID, socket $ENGINE/docker.sock)"
}

stop_pid() { # pid name: TERM, wait up to 30 s, then KILL
    local pid="$1" name="$2" i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.5
    done
    log "$name (pid $pid) did not stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_engine() {
    local rc=$?
    [ "$ENGINE_STARTED" = 1 ] || return "$rc"
    ENGINE_STARTED=0
    local c
    for c in "${SMOKE_CONTAINERS[@]}"; do
        docker_ rm -f "$c" >/dev/null 2>&1 || true
    done
    stop_pid "$DOCKERD_PID" dockerd
    # Shims of containers the engine ran; they outlive neither it nor this script.
    local pid
    for pid in $(pgrep -f "containerd-shim.*-address $ENGINE/run/containerd.sock" 2>/dev/null || true); do
        stop_pid "$pid" containerd-shim
    done
    stop_pid "$CONTAINERD_PID" containerd
    # Mounts the engine may have left behind (overlay layers, network namespaces, shm).
    local mount
    while read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done < <(awk -v p="$ENGINE/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
    # The cgroups made under the engine's cgroup parent, now empty.
    local dir
    for dir in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT" /sys/fs/cgroup/*/buildkit /sys/fs/cgroup/buildkit; do
        [ -d "$dir" ] || continue
        case "$dir" in */buildkit) [ -e "$ENGINE/run/cgroup-buildkit-existed" ] && continue ;; esac
        find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    if [ "$KEY_JSON_EXISTED" = 0 ] && [ -e /etc/docker/key.json ]; then rm -f /etc/docker/key.json; fi
    rm -rf "$ENGINE/run"
    log "Docker engine stopped"
    return "$rc"
}

# ------------------------------------------------------------------ the base image
base_tar() { echo "$CACHE/base/$SUITE-minbase.tar"; }

make_base() {
    local tar
    tar="$(base_tar)"
    if [ -s "$tar" ] && [ -s "$tar.sha256" ]; then
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
    }
    mkdir -p "$CACHE/base" "$CACHE/logs"
    local root="$CACHE/base/rootfs.partial" t0
    rm -rf "$root"
    t0=$(date +%s)
    log "debootstrap --variant=minbase $SUITE (a few minutes)"
    debootstrap --variant=minbase "$SUITE" "$root" "$DEBIAN_MIRROR" >"$CACHE/logs/debootstrap.log" 2>&1 ||
        die "debootstrap failed; see $CACHE/logs/debootstrap.log"
    # Updates and security fixes too; no recommends; no package lists, caches or docs in the layer.
    cat > "$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb ${DEBIAN_MIRROR%/debian}/debian-security $SUITE-security main
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/90datamesh-test"
    printf 'path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n' \
        > "$root/etc/dpkg/dpkg.cfg.d/90datamesh-test-nodoc"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/var/log/apt/*
    : > "$root/etc/resolv.conf"
    echo localhost > "$root/etc/hostname"
    tar --numeric-owner --xattrs -C "$root" -cf "$tar.partial" .
    sha256sum "$tar.partial" | awk '{print $1}' > "$tar.sha256.partial"
    mv -f "$tar.partial" "$tar"
    mv -f "$tar.sha256.partial" "$tar.sha256"
    rm -rf "$root"
    log "base root file system ready in $(($(date +%s) - t0))s: $tar"
}

load_base() {
    local want have
    want="$(cat "$(base_tar).sha256")"
    have="$(docker_ image inspect --format '{{ index .Config.Labels "datamesh.test-images.base" }}' "$BASE_REF" 2>/dev/null || true)"
    [ "$have" = "$want" ] && return 0
    log "importing $BASE_REF"
    docker_ import --change "LABEL datamesh.test-images.base=$want" --change 'CMD ["/bin/bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_REF" < "$(base_tar)" >/dev/null
}

# ------------------------------------------------------------------ SeaweedFS's weed
weed_binary() { echo "$CACHE/weed/$SEAWEEDFS_MODULE_VERSION/weed"; }

build_weed() {
    local out
    out="$(weed_binary)"
    [ -x "$out" ] && return 0
    command -v go >/dev/null 2>&1 || die "go not found (needed to build SeaweedFS's weed)"
    mkdir -p "$(dirname "$out")" "$CACHE/logs"
    local t0 dir commit
    t0=$(date +%s)
    log "downloading $SEAWEEDFS_MODULE@$SEAWEEDFS_MODULE_VERSION from the Go module proxy"
    dir="$(go mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$dir/weed" ] || die "the module download has no weed/ folder ($dir)"
    commit="${SEAWEEDFS_MODULE_VERSION##*-}"
    log "building weed (a few minutes on a cold Go cache)"
    # The module's own go.mod and go.sum (it has replace directives, so `go install pkg@version` refuses it).
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
        -ldflags "-s -w -extldflags -static -X $SEAWEEDFS_MODULE/weed/util/version.COMMIT=${commit:0:12}" \
        -o "$out.partial" ./weed) >"$CACHE/logs/weed-build.log" 2>&1 ||
        die "building weed failed; see $CACHE/logs/weed-build.log"
    mv -f "$out.partial" "$out"
    log "weed built in $(($(date +%s) - t0))s: $("$out" version 2>/dev/null | head -n 1)"
}

# ------------------------------------------------------------------ image inputs and keys
# The inputs an image is built from beyond images/<name>/, as lines of text for the key.
extra_inputs() {
    case "$1" in
        postgres) echo "postgres major $TEST_POSTGRES_MAJOR" ;;
        mariadb) echo "mariadb series $TEST_MARIADB_SERIES" ;;
        trino)
            echo "trino $TRINO_VERSION plugins $TRINO_IMAGE_PLUGINS"
            cat "$TRINO_CACHE/trino-cli.jar.sha1"
            cat "$TRINO_CACHE/server/.datamesh-complete"
            (cd "$TRINO_CACHE/server" && find . -type f -printf '%P %s\n' | LC_ALL=C sort | sha256sum)
            cat "$(trino_java_home)/release"
            ;;
        seaweedfs)
            echo "seaweedfs $SEAWEEDFS_MODULE_VERSION $SEAWEEDFS_VERSION"
            sha256sum < "$(weed_binary)"
            ;;
    esac
}

image_key() {
    local name="$1"
    {
        echo "recipe $RECIPE"
        echo "base $(cat "$(base_tar).sha256")"
        echo "ref $(image_ref "$name")"
        (cd "$REPO/images/$name" && find . -type f -printf '%P %m\n' | LC_ALL=C sort | while read -r file mode; do
            echo "$file $mode $(sha256sum < "$file")"
        done)
        extra_inputs "$name"
    } | sha256sum | awk '{print $1}'
}

TRINO_JAVA_HOME_=""
trino_java_home() {
    if [ -z "$TRINO_JAVA_HOME_" ]; then
        TRINO_JAVA_HOME_="$(sed -n 's/^TRINO_JAVA_HOME=//p' "$CACHE/logs/setup-trino.out" 2>/dev/null | tail -n 1)"
    fi
    printf '%s' "$TRINO_JAVA_HOME_"
}

# Whatever each image needs from outside images/<name>/, ready before its key is computed.
prepare_inputs() {
    case "$1" in
        trino)
            mkdir -p "$CACHE/logs"
            # Shares the cache (and its lock) with the local platform's setup.
            bash "$REPO/scripts/setup-trino.sh" >"$CACHE/logs/setup-trino.out" 2>"$CACHE/logs/setup-trino.log" ||
                die "scripts/setup-trino.sh failed; see $CACHE/logs/setup-trino.log"
            TRINO_JAVA_HOME_=""
            [ -x "$(trino_java_home)/bin/java" ] || die "setup-trino.sh named no usable Java (see $CACHE/logs/setup-trino.out)"
            ;;
        seaweedfs) build_weed ;;
    esac
}

# The build context: images/<name>/ plus the large inputs, hard-linked where possible.
make_context() {
    local name="$1" ctx="$CACHE/contexts/$1"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp -a "$REPO/images/$name/." "$ctx/"
    case "$name" in
        trino)
            local server="$TRINO_CACHE/server" plugin
            mkdir -p "$ctx/server/bin" "$ctx/server/plugin"
            cp -al "$server/lib" "$ctx/server/lib"
            [ -d "$server/secrets-plugin" ] && cp -al "$server/secrets-plugin" "$ctx/server/secrets-plugin"
            cp -al "$server/bin/launcher" "$server/bin/launcher.properties" "$server/bin/linux-amd64" "$ctx/server/bin/"
            cp -a "$server/NOTICE" "$server/README.txt" "$ctx/server/" 2>/dev/null || true
            for plugin in $TRINO_IMAGE_PLUGINS; do
                [ -d "$server/plugin/$plugin" ] || die "plugin $plugin missing from $server"
                cp -al "$server/plugin/$plugin" "$ctx/server/plugin/$plugin"
            done
            cp -al "$(trino_java_home)" "$ctx/jdk" 2>/dev/null || cp -a "$(trino_java_home)" "$ctx/jdk"
            cp -a "$TRINO_CACHE/trino-cli.jar" "$ctx/trino-cli"
            chmod 0755 "$ctx/trino-cli"
            ;;
        seaweedfs)
            cp -a "$(weed_binary)" "$ctx/weed"
            ;;
    esac
}

build_args() {
    echo "--build-arg=BASE_IMAGE=$BASE_REF"
    case "$1" in
        postgres) echo "--build-arg=PG_MAJOR=$TEST_POSTGRES_MAJOR" ;;
    esac
}

# Builds one image unless its saved tarball already matches its key.
build_image() {
    local name="$1" ref key tar t0
    ref="$(image_ref "$name")"
    tar="$CACHE/images/$name.tar"
    prepare_inputs "$name"
    key="$(image_key "$name")"
    if [ -s "$tar" ] && [ "$(cat "$tar.key" 2>/dev/null)" = "$key" ] && [ "$(cat "$tar.ref" 2>/dev/null)" = "$ref" ]; then
        log "$name: cached ($ref, key ${key:0:12})"
        return 0
    fi
    start_engine
    load_base
    mkdir -p "$CACHE/images" "$CACHE/logs"
    t0=$(date +%s)
    local have
    have="$(docker_ image inspect --format '{{ index .Config.Labels "datamesh.test-images.key" }}' "$ref" 2>/dev/null || true)"
    if [ "$have" != "$key" ]; then
        log "$name: building $ref (log: $CACHE/logs/build-$name.log)"
        make_context "$name"
        # shellcheck disable=SC2046
        docker_ build --network host --progress plain $(build_args "$name") \
            --label "datamesh.test-images.key=$key" --tag "$ref" "$CACHE/contexts/$name" \
            >"$CACHE/logs/build-$name.log" 2>&1 || {
            tail -n 30 "$CACHE/logs/build-$name.log" >&2
            die "$name: docker build failed; see $CACHE/logs/build-$name.log"
        }
        rm -rf "$CACHE/contexts/$name"
    fi
    docker_ save --output "$tar.partial" "$ref"
    mv -f "$tar.partial" "$tar"
    printf '%s\n' "$key" > "$tar.key"
    printf '%s\n' "$ref" > "$tar.ref"
    log "$name: $ref ready in $(($(date +%s) - t0))s ($(du -h "$tar" | cut -f1) saved)"
}

build_all() {
    local names=("$@") name t0
    t0=$(date +%s)
    make_base
    for name in "${names[@]}"; do
        build_image "$name"
    done
    if [ "$ENGINE_STARTED" = 1 ]; then
        # Images that a rebuild replaced; the build cache itself stays, for the next rebuild.
        docker_ image prune --force >/dev/null || true
    fi
    mkdir -p "$CACHE"
    settings_text > "$CACHE/settings"
    log "built in $(($(date +%s) - t0))s; settings in $CACHE/settings"
}

# ------------------------------------------------------------------ import
import_all() {
    local socket="$1" name
    shift
    [ -S "$socket" ] || die "no containerd socket at $socket"
    command -v ctr >/dev/null 2>&1 || die "ctr not found (Debian's containerd package ships it)"
    # Builds whatever is missing or out of date (a no-op of seconds when every saved image matches
    # its key); the engine runs only if something must be built, and stops before the import.
    build_all "$@"
    stop_engine
    for name in "$@"; do
        local t0
        t0=$(date +%s)
        ctr -a "$socket" -n k8s.io images import "$CACHE/images/$name.tar" >/dev/null
        log "$name: imported $(image_ref "$name") in $(($(date +%s) - t0))s"
    done
}

# ------------------------------------------------------------------ smoke tests
free_port() { # a TCP port nobody listens on, from an unusual range
    local port
    for port in $(seq "$1" $(($1 + 200))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    die "no free port from $1"
}

wait_until() { # seconds description command...
    local seconds="$1" what="$2" i
    shift 2
    for i in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "timed out waiting for $what"
    return 1
}

smoke_run() { # name [--network none] docker-run-args...: a detached container (host network unless told), removed at exit
    local name="$1" network=host
    shift
    if [ "${1:-}" = --network ]; then
        network="$2"
        shift 2
    fi
    docker_ rm -f "$name" >/dev/null 2>&1 || true
    SMOKE_CONTAINERS+=("$name")
    docker_ run -d --name "$name" --network "$network" "$@" >/dev/null
}

smoke_logs() { docker_ logs --tail 40 "$1" >&2 2>&1 || true; }

smoke_postgres() {
    local ref port pw=Sm0ke-pw-'"$x'
    ref="$(image_ref postgres)"
    port="$(free_port 25432)"
    # As on Kubernetes: root, an empty volume mounted over the data folder, PGDATA one level down.
    smoke_run ti-postgres --tmpfs /var/lib/postgresql/data:mode=0755 -e POSTGRES_PASSWORD="$pw" \
        -e PGDATA=/var/lib/postgresql/data/pgdata "$ref" -c port="$port" -c listen_addresses=127.0.0.1
    wait_until 60 "postgres" docker_ exec ti-postgres pg_isready -q -h 127.0.0.1 -p "$port" -U postgres || { smoke_logs ti-postgres; return 1; }
    local out
    out="$(docker_ exec -e PGPASSWORD="$pw" ti-postgres psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA \
        -c "SELECT current_user || ' ' || (SELECT setting FROM pg_settings WHERE name = 'listen_addresses') || ' ' || version()")"
    log "postgres: $out"
    docker_ exec ti-postgres sh -c "grep -v '^#' \$PGDATA/pg_hba.conf | grep -E 'scram|trust'" >&2
    docker_ exec ti-postgres grep -q "^listen_addresses = '\*'" /var/lib/postgresql/data/pgdata/postgresql.conf ||
        { log "postgres: postgresql.conf does not listen on all addresses"; return 1; }
    if docker_ exec -e PGPASSWORD=wrong ti-postgres psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
        log "postgres: a wrong password was accepted"; return 1
    fi
    [ "$(docker_ exec ti-postgres stat -c %u:%U /var/lib/postgresql/data/pgdata)" = "999:postgres" ] || { log "postgres: data not owned by 999"; return 1; }
    [ "$(docker_ exec ti-postgres stat -c %U /proc/1)" = postgres ] || { log "postgres: pid 1 is not postgres"; return 1; }
    # The password file variant, on a second data folder.
    local port2
    port2="$(free_port $((port + 1)))"
    smoke_run ti-postgres-file --tmpfs /var/lib/postgresql/data -e POSTGRES_PASSWORD_FILE=/run/pw \
        --mount "type=bind,source=$CACHE/smoke-pw,target=/run/pw,readonly" "$ref" -c port="$port2" -c listen_addresses=127.0.0.1
    wait_until 60 "postgres (password file)" docker_ exec ti-postgres-file pg_isready -q -h 127.0.0.1 -p "$port2" || { smoke_logs ti-postgres-file; return 1; }
    docker_ exec -e PGPASSWORD=from-a-file ti-postgres-file psql -h 127.0.0.1 -p "$port2" -U postgres -tAc 'SELECT 1' >/dev/null ||
        { log "postgres: POSTGRES_PASSWORD_FILE login failed"; return 1; }
    log "postgres: OK (scram login with POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE, wrong password refused, runs as uid 999)"
}

smoke_mariadb() {
    local ref port pw=Sm0ke-pw-"'"'\x'
    ref="$(image_ref mariadb)"
    port="$(free_port 23306)"
    smoke_run ti-mariadb --tmpfs /var/lib/mysql:mode=0755 -e MARIADB_ROOT_PASSWORD="$pw" "$ref" --port="$port" --bind-address=127.0.0.1
    wait_until 90 "mariadb" docker_ exec -e MYSQL_PWD="$pw" ti-mariadb mariadb -h 127.0.0.1 -P "$port" -u root -e 'SELECT 1' || { smoke_logs ti-mariadb; return 1; }
    local out
    out="$(docker_ exec -e MYSQL_PWD="$pw" ti-mariadb mariadb -h 127.0.0.1 -P "$port" -u root --batch --skip-column-names \
        -e "SELECT CONCAT(CURRENT_USER(), ' ', @@bind_address, ' ', VERSION(), ' ', (SELECT GROUP_CONCAT(CONCAT(user, '@', host)) FROM mysql.user))")"
    log "mariadb: $out"
    docker_ exec -e MYSQL_PWD="$pw" ti-mariadb mariadb -h localhost -u root -e 'SELECT 1' >/dev/null || { log "mariadb: root@localhost login failed"; return 1; }
    if docker_ exec -e MYSQL_PWD=wrong ti-mariadb mariadb -h 127.0.0.1 -P "$port" -u root -e 'SELECT 1' >/dev/null 2>&1; then
        log "mariadb: a wrong password was accepted"; return 1
    fi
    [ "$(docker_ exec ti-mariadb stat -c %U /proc/1)" = mysql ] || { log "mariadb: pid 1 is not mysql"; return 1; }
    [ "$(docker_ exec ti-mariadb id -u mysql)" = 999 ] || { log "mariadb: mysql is not uid 999"; return 1; }
    # healthcheck.sh reads the port from its defaults file; this test server listens elsewhere.
    docker_ exec ti-mariadb sh -c "sed -i 's/^port=.*/port=$port/' /var/lib/mysql/.my-healthcheck.cnf"
    docker_ exec ti-mariadb healthcheck.sh --connect --innodb_initialized || { log "mariadb: healthcheck.sh failed"; return 1; }
    log "mariadb: OK (root@'%' and root@localhost log in with MARIADB_ROOT_PASSWORD, wrong password refused, runs as mysql uid 999, healthcheck.sh passes)"
}

smoke_trino() {
    local ref http https etc="$CACHE/smoke-trino-etc"
    ref="$(image_ref trino)"
    http="$(free_port 28080)"
    https="$(free_port 28443)"
    docker_ run --rm --network host --entrypoint /bin/sh "$ref" -c 'id; java -version 2>&1 | head -n 1; trino --version; /usr/lib/trino/bin/launcher --help | head -n 1; ls /usr/lib/trino/plugin | tr "\n" " "' >&2
    # The coordinator's configuration as catalogs/trino.ts renders it for the cluster (HTTPS with
    # password authentication, plain HTTP for internal calls, no node.id), with a self-signed
    # keystore, one user and a PostgreSQL catalog.
    rm -rf "$etc"
    mkdir -p "$etc/catalog" "$etc/secrets"
    "$(trino_java_home)/bin/keytool" -genkeypair -alias trino -keyalg RSA -keysize 2048 -validity 2 -dname CN=localhost \
        -ext san=dns:localhost,ip:127.0.0.1 -keystore "$etc/secrets/keystore.p12" -storetype PKCS12 -storepass smoke-keystore >/dev/null 2>&1
    (cd "$REPO" && node -e 'console.log("analyst:" + require("bcryptjs").hashSync("smoke-password", 10).replace(/^\$2[ab]\$/, "$2y$"))') > "$etc/secrets/password.db"
    cat > "$etc/access-control.properties" <<EOF
access-control.name=file
security.config-file=/etc/trino/rules.json
security.refresh-period=5s
EOF
    echo '{"catalogs":[{"allow":"all"}]}' > "$etc/rules.json"
    cat > "$etc/config.properties" <<EOF
catalog.management=static
coordinator=true
discovery.uri=http://127.0.0.1:$http
http-server.authentication.type=PASSWORD
http-server.http.port=$http
http-server.https.enabled=true
http-server.https.keystore.key=\${ENV:KEYSTORE_PASSWORD}
http-server.https.keystore.path=/etc/trino/secrets/keystore.p12
http-server.https.port=$https
internal-communication.shared-secret=\${ENV:SHARED_SECRET}
node-scheduler.include-coordinator=true
query.max-memory=256MB
query.max-memory-per-node=256MB
EOF
    printf '%s\n' -server -Xmx768M -XX:+UseG1GC -XX:G1HeapRegionSize=4M -XX:+ExitOnOutOfMemoryError -XX:ReservedCodeCacheSize=256M \
        -XX:+EnableDynamicAgentLoading -Djdk.attach.allowAttachSelf=true -Dfile.encoding=UTF-8 > "$etc/jvm.config"
    echo 'io.trino=INFO' > "$etc/log.properties"
    printf 'node.data-dir=/data/trino\nnode.environment=datamesh\nplugin.dir=/usr/lib/trino/plugin\nnode.internal-address=127.0.0.1\n' > "$etc/node.properties"
    printf 'file.password-file=/etc/trino/secrets/password.db\npassword-authenticator.name=file\n' > "$etc/password-authenticator.properties"
    printf 'connector.name=postgresql\nconnection-url=jdbc:postgresql://127.0.0.1:1/none\nconnection-user=nobody\nconnection-password=${ENV:PG_PASSWORD}\n' > "$etc/catalog/domain.properties"
    printf 'connector.name=mariadb\nconnection-url=jdbc:mariadb://127.0.0.1:1\nconnection-user=nobody\nconnection-password=${ENV:PG_PASSWORD}\n' > "$etc/catalog/orders.properties"
    cat > "$etc/catalog/insights.properties" <<EOF
connector.name=iceberg
fs.native-s3.enabled=true
iceberg.catalog.type=jdbc
iceberg.jdbc-catalog.catalog-name=insights
iceberg.jdbc-catalog.connection-password=\${ENV:PG_PASSWORD}
iceberg.jdbc-catalog.connection-url=jdbc:postgresql://127.0.0.1:1/none
iceberg.jdbc-catalog.connection-user=nobody
iceberg.jdbc-catalog.default-warehouse-dir=s3://warehouse/
iceberg.jdbc-catalog.driver-class=org.postgresql.Driver
s3.aws-access-key=\${ENV:PG_PASSWORD}
s3.aws-secret-key=\${ENV:PG_PASSWORD}
s3.endpoint=http://127.0.0.1:1
s3.path-style-access=true
s3.region=us-east-1
EOF
    # The pod mounts its Secret's files readable by group 1000 only; the same here.
    chmod -R a+rX "$etc"
    chgrp -R 1000 "$etc/secrets"
    chmod 0750 "$etc/secrets"
    chmod 0640 "$etc/secrets"/*
    smoke_run ti-trino -e KEYSTORE_PASSWORD=smoke-keystore -e SHARED_SECRET=smoke-shared-secret-0123456789 -e PG_PASSWORD=x \
        --mount "type=bind,source=$etc,target=/etc/trino,readonly" --tmpfs /data/trino:uid=1000,gid=1000 "$ref"
    if ! wait_until 180 "trino health-check" docker_ exec ti-trino /usr/lib/trino/bin/health-check; then
        smoke_logs ti-trino
        return 1
    fi
    log "trino: health-check exits 0 (HTTP port $http)"
    # The check Job's way in: the CLI over HTTPS with a password and a trust store.
    "$(trino_java_home)/bin/keytool" -exportcert -rfc -alias trino -keystore "$etc/secrets/keystore.p12" -storepass smoke-keystore > "$etc/ca.pem" 2>/dev/null
    chmod 0644 "$etc/ca.pem"
    local out
    out="$(docker_ exec -e TRINO_PASSWORD=smoke-password ti-trino trino --server "https://localhost:$https" --user analyst --password \
        --truststore-path /etc/trino/ca.pem --execute 'SELECT node_id || '"' '"' || node_version FROM system.runtime.nodes' --output-format CSV_UNQUOTED)" ||
        { log "trino: CLI query over HTTPS failed"; smoke_logs ti-trino; return 1; }
    log "trino: CLI over HTTPS as analyst: $out"
    local catalogs
    catalogs="$(docker_ exec -e TRINO_PASSWORD=smoke-password ti-trino trino --server "https://localhost:$https" --user analyst --password \
        --truststore-path /etc/trino/ca.pem --execute 'SHOW CATALOGS' --output-format CSV_UNQUOTED | tr '\n' ' ')"
    log "trino: catalogs: $catalogs"
    # The health-check's HTTPS branch: the same server, as seen through a configuration whose
    # plain HTTP port is off (the health-check reads TRINO_CONFIG, default /etc/trino/config.properties).
    docker_ exec ti-trino sh -c "sed 's/^http-server.http.port=.*/http-server.http.enabled=false/' /etc/trino/config.properties > /tmp/https-only.properties"
    docker_ exec -e TRINO_CONFIG=/tmp/https-only.properties ti-trino /usr/lib/trino/bin/health-check ||
        { log "trino: health-check against HTTPS failed"; return 1; }
    if docker_ exec -e TRINO_CONFIG=/tmp/https-only.properties ti-trino sh -c "sed -i 's/^http-server.https.port=.*/http-server.https.port=1/' /tmp/https-only.properties && /usr/lib/trino/bin/health-check" 2>/dev/null; then
        log "trino: health-check passed against a closed port"; return 1
    fi
    [ "$(docker_ exec ti-trino stat -c %u:%g /proc/1)" = 1000:1000 ] || { log "trino: pid 1 is not uid/gid 1000"; return 1; }
    log "trino: OK (health-check on HTTP and on HTTPS, CLI over HTTPS with a password, java/trino/launcher present)"
}

smoke_seaweedfs() {
    local ref s3 master volume filer admin s3dir="$CACHE/smoke-seaweedfs" code got i
    ref="$(image_ref seaweedfs)"
    s3="$(free_port 28333)"
    master="$(free_port 29333)"
    volume="$(free_port 28180)"
    filer="$(free_port 28888)"
    admin="$(free_port 22535)"
    rm -rf "$s3dir"
    mkdir -p "$s3dir"
    cat > "$s3dir/s3.json" <<'JSON'
{
  "identities": [
    {
      "name": "warehouse",
      "credentials": [{ "accessKey": "smokeaccesskey0001", "secretKey": "smoke-secret-key-0123456789abcdefghij" }],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
JSON
    chmod 0644 "$s3dir/s3.json"
    local key=smokeaccesskey0001 secret=smoke-secret-key-0123456789abcdefghij
    # S3 requests signed with the identity's keys (SigV4, as Trino's native S3 file system signs them).
    s3curl() { curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" "$@"; }
    local ports=(-ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port="$master" -volume.port="$volume" -filer.port="$filer" -s3.port="$s3")

    # 1. `server` with a filer and the S3 gateway, identities from -s3.config.
    smoke_run ti-seaweedfs --tmpfs /data:mode=0755 --mount "type=bind,source=$s3dir/s3.json,target=/etc/seaweedfs/s3.json,readonly" "$ref" \
        server "${ports[@]}" -filer -s3 -s3.config=/etc/seaweedfs/s3.json
    wait_until 90 "seaweedfs S3 (server)" curl -s -o /dev/null "http://127.0.0.1:$s3/" || { smoke_logs ti-seaweedfs; return 1; }
    [ "$(docker_ exec ti-seaweedfs stat -c %U /proc/1)" = seaweed ] || { log "seaweedfs: pid 1 is not seaweed"; return 1; }
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/")"
    log "seaweedfs server: anonymous ListBuckets answers HTTP $code"
    [ "$code" = 403 ] || { log "seaweedfs: anonymous access was not refused"; return 1; }
    code="$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:wrong-secret" "http://127.0.0.1:$s3/")"
    [ "$code" = 403 ] || { log "seaweedfs: a wrong secret key was not refused (HTTP $code)"; return 1; }
    # Bucket creation with `weed shell`, through the entrypoint's `shell` subcommand as a Job would run it.
    for i in 1 2; do
        if docker_ run --rm --network host -e SHELL_MASTER="127.0.0.1:$master" "$ref" shell "s3.bucket.create -name warehouse" >&2; then
            log "seaweedfs server: entrypoint 'shell s3.bucket.create -name warehouse' (run $i) exited 0"
        else
            log "seaweedfs server: entrypoint 'shell s3.bucket.create -name warehouse' (run $i) exited non-zero"
        fi
    done
    docker_ run --rm --network host -e SHELL_MASTER="127.0.0.1:$master" "$ref" shell "s3.bucket.list" >&2
    code="$(s3curl -o "$s3dir/create.xml" -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/warehouse")"
    log "seaweedfs server: S3 CreateBucket of an existing bucket answers HTTP $code: $(grep -o '<Code>[^<]*</Code>' "$s3dir/create.xml")"
    code="$(s3curl -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/scratch-bucket")"
    log "seaweedfs server: S3 CreateBucket of a new bucket answers HTTP $code"
    printf 'hello from the smoke test\n' > "$s3dir/object.txt"
    code="$(s3curl -o /dev/null -w '%{http_code}' -T "$s3dir/object.txt" "http://127.0.0.1:$s3/warehouse/smoke/object.txt")"
    [ "$code" = 200 ] || { log "seaweedfs: PutObject answered HTTP $code"; return 1; }
    got="$(s3curl "http://127.0.0.1:$s3/warehouse/smoke/object.txt")"
    [ "$got" = "hello from the smoke test" ] || { log "seaweedfs: GetObject returned '$got'"; return 1; }
    code="$(s3curl -o /dev/null -w '%{http_code}' -T "$s3dir/object.txt" "http://127.0.0.1:$s3/never-created/object.txt")"
    log "seaweedfs server: PutObject into a bucket nobody created answers HTTP $code (-s3.autoCreateBucket)"
    log "seaweedfs server: ListBuckets: $(s3curl "http://127.0.0.1:$s3/" | grep -o '<Name>[^<]*</Name>' | tr '\n' ' ')"
    log "seaweedfs server: ListObjectsV2 warehouse: $(s3curl "http://127.0.0.1:$s3/warehouse?list-type=2" | grep -o '<Key>[^<]*</Key>' | tr '\n' ' ')"
    log "seaweedfs server: HeadBucket answers HTTP $(s3curl -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$s3/warehouse") for an existing bucket, HTTP $(s3curl -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$s3/missing-bucket") for a missing one"
    docker_ rm -f ti-seaweedfs >/dev/null

    # 1b. The stack's own arguments (platforms/kubernetes/warehouse.ts), default ports, in a network
    # namespace of its own with only loopback (no host ports taken), checked from inside the container.
    smoke_run ti-seaweedfs-stack --network none --tmpfs /data:mode=0755 \
        --mount "type=bind,source=$s3dir/s3.json,target=/etc/datamesh/s3/s3.json,readonly" "$ref" \
        server -dir=/data -ip.bind=0.0.0.0 -master.volumeSizeLimitMB=1024 -volume.max=0 -s3 -s3.port=8333 -s3.config=/etc/datamesh/s3/s3.json
    local inside="curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user $key:$secret"
    if ! wait_until 90 "seaweedfs S3 with the stack's arguments" docker_ exec ti-seaweedfs-stack sh -c "$inside -o /dev/null -w '%{http_code}' -X PUT http://127.0.0.1:8333/warehouse | grep -qx 200"; then
        smoke_logs ti-seaweedfs-stack
        return 1
    fi
    docker_ exec ti-seaweedfs-stack sh -c "printf 'inside\n' > /tmp/o && $inside -o /dev/null -w '%{http_code}' -T /tmp/o http://127.0.0.1:8333/warehouse/o | grep -qx 200 && $inside http://127.0.0.1:8333/warehouse/o | grep -qx inside" ||
        { log "seaweedfs: put/get with the stack's arguments failed"; smoke_logs ti-seaweedfs-stack; return 1; }
    log "seaweedfs server with the stack's arguments: CreateBucket, PutObject and GetObject on 8333 work; CreateBucket again answers HTTP $(docker_ exec ti-seaweedfs-stack sh -c "$inside -o /dev/null -w '%{http_code}' -X PUT http://127.0.0.1:8333/warehouse")"
    docker_ rm -f ti-seaweedfs-stack >/dev/null

    # 2. `mini` (the image's default command), keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the
    # bucket from S3_BUCKET, started twice on the same data folder.
    local data="$s3dir/data"
    mkdir -p "$data"
    for i in 1 2; do
        smoke_run ti-seaweedfs-mini --mount "type=bind,source=$data,target=/data" \
            -e AWS_ACCESS_KEY_ID="$key" -e AWS_SECRET_ACCESS_KEY="$secret" -e S3_BUCKET=warehouse "$ref" \
            mini "${ports[@]}" -admin.port="$admin" -admin.port.legacy=0 -webdav=false -s3.port.iceberg=0 -s3.port.lance=0
        if ! wait_until 90 "seaweedfs mini bucket (start $i)" sh -c "curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user '$key:$secret' http://127.0.0.1:$s3/ | grep -q '<Name>warehouse</Name>'"; then
            smoke_logs ti-seaweedfs-mini
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/")"
        log "seaweedfs mini (start $i): bucket warehouse listed; anonymous ListBuckets answers HTTP $code"
        [ "$code" = 403 ] || { log "seaweedfs mini: anonymous access was not refused"; smoke_logs ti-seaweedfs-mini; return 1; }
        if [ "$i" = 1 ]; then
            code="$(s3curl -o /dev/null -w '%{http_code}' -T "$s3dir/object.txt" "http://127.0.0.1:$s3/warehouse/kept.txt")"
            [ "$code" = 200 ] || { log "seaweedfs mini: PutObject answered HTTP $code"; return 1; }
        else
            got="$(s3curl "http://127.0.0.1:$s3/warehouse/kept.txt")"
            [ "$got" = "hello from the smoke test" ] || { log "seaweedfs mini: the object did not survive a restart ('$got')"; return 1; }
        fi
        docker_ rm -f ti-seaweedfs-mini >/dev/null
    done
    log "seaweedfs: OK (server -s3 with -s3.config, and mini with AWS_* keys and S3_BUCKET: anonymous and wrong keys refused, put/get works, mini keeps data and bucket across restarts)"
}

smoke_python() {
    local ref out
    ref="$(image_ref python)"
    # As the pods run it: a uid without a passwd entry, HOME on a scratch folder.
    out="$(docker_ run --rm --network host --user 1000:1000 -e HOME=/tmp "$ref" /bin/sh -c 'id -u; python3 --version; python3 -m venv /tmp/v && /tmp/v/bin/pip --version; command -v chown; command -v dbt || echo no-dbt')"
    printf '%s\n' "$out" >&2
    grep -qx 1000 <<<"$out" || { log "python: not uid 1000"; return 1; }
    grep -q '^Python 3\.11\.' <<<"$out" || { log "python: not Python 3.11"; return 1; }
    grep -q '^pip .*python 3\.11' <<<"$out" || { log "python: python3 -m venv made no pip"; return 1; }
    grep -qx no-dbt <<<"$out" || { log "python: has dbt, which the default image has not"; return 1; }
    log "python: OK (Python 3.11 whose venv has pip, as uid 1000 without a passwd entry; chown; no dbt)"
}

smoke_all() {
    local name failed=()
    build_all "$@"
    start_engine
    mkdir -p "$CACHE"
    printf '%s' from-a-file > "$CACHE/smoke-pw"
    chmod 0644 "$CACHE/smoke-pw"
    for name in "$@"; do
        log "smoke test: $name"
        if ! "smoke_$name"; then failed+=("$name"); fi
    done
    if [ ${#failed[@]} -gt 0 ]; then die "smoke tests failed: ${failed[*]}"; fi
    log "smoke tests passed: $*"
}

# ------------------------------------------------------------------ main
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

names_or_all() {
    if [ $# -eq 0 ]; then printf '%s\n' "${ALL_NAMES[@]}"; return 0; fi
    local name
    for name in "$@"; do image_ref "$name" >/dev/null; echo "$name"; done
}

main() {
    local command="${1:-}" socket
    local -a names
    [ -n "$command" ] || usage
    shift
    case "$command" in
        build | import | smoke)
            # One run at a time: they share the engine's state and the saved images.
            mkdir -p "$CACHE"
            exec 8>"$CACHE/.lock"
            flock 8
            ;;
    esac
    case "$command" in
        build)
            mapfile -t names < <(names_or_all "$@")
            build_all "${names[@]}"
            settings_text
            ;;
        import)
            [ $# -ge 1 ] || usage
            socket="$1"
            shift
            mapfile -t names < <(names_or_all "$@")
            import_all "$socket" "${names[@]}"
            ;;
        settings)
            settings_text
            ;;
        smoke)
            mapfile -t names < <(names_or_all "$@")
            smoke_all "${names[@]}"
            ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

# One line, so that bash has read all of it before it runs: editing this file during a run is safe.
main "$@"; exit $?
