#!/usr/bin/env bash
# Downloads Trino (default 476) from Maven Central into a cache and prepares a
# TRINO_HOME with only the plugins the data mesh needs.
#
#   cache:   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/trino/<version>/
#   home:    <cache>/trino/<version>/server        (bin/ lib/ plugin/ ...)
#   cli:     <cache>/trino/<version>/trino-cli.jar (executable jar)
#
# Sources, in order of preference:
#   1. io.trino:trino-server-core:<v>:tar.gz plus one io.trino:trino-<p>:<v>:zip
#      per plugin (smallest download), when every one of them is available;
#   2. io.trino:trino-server:<v>:tar.gz (the full server, ~820 MB), from which
#      only the core and the needed plugins are extracted.
# Every file is checked against its .sha1 from the repository, downloaded to a
# temp name and moved into place only when complete and verified; TRINO_HOME is
# assembled in a staging dir and renamed into place only when complete.
#
# Also locates a Java >= 24 (Trino 476 requires it): $JAVA_HOME if it is new
# enough, else /usr/lib/jvm/temurin-25*, else any /usr/lib/jvm/* >= 24.
#
# Output (last lines, machine-readable):
#   TRINO_JAVA_HOME=<dir>
#   TRINO_CLI=<jar>
#   TRINO_HOME=<dir>
#   TRINO_CLASS_ARCHIVE=<file>  (when made: see "class archive" below)
#
# Environment:
#   DATAMESH_CACHE       cache root (default $HOME/.cache/datamesh)
#   TRINO_VERSION        default 476
#   TRINO_PLUGINS        default "postgresql mariadb iceberg"
#   MAVEN_REPO_URL       default https://repo1.maven.org/maven2
#   TRINO_SKIP_CLI=1     do not download the CLI jar
#   TRINO_KEEP_DOWNLOADS=1  keep the server archives in <cache>/downloads after
#                        installing (default: delete them, ~800 MB)
set -euo pipefail

log() { printf '[setup-trino] %s\n' "$*" >&2; }
die() { printf '[setup-trino] ERROR: %s\n' "$*" >&2; exit 1; }

VERSION="${TRINO_VERSION:-476}"
PLUGINS="${TRINO_PLUGINS:-postgresql mariadb iceberg}"
REPO="${MAVEN_REPO_URL:-https://repo1.maven.org/maven2}"
CACHE_ROOT="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
BASE="$CACHE_ROOT/trino/$VERSION"
DL="$BASE/downloads"
TRINO_HOME="$BASE/server"
CLI_JAR="$BASE/trino-cli.jar"
MARKER="$TRINO_HOME/.datamesh-complete"
MIN_JAVA=24
# Plugins that ship in trino-server-core; kept when extracting the full server.
CORE_PLUGINS="exchange-filesystem functions-python geospatial password-authenticators resource-group-managers session-property-managers spooling-filesystem"

for tool in curl tar gzip sha1sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/setup-system.sh)"
done

# ---------------------------------------------------------------- Java >= 24
java_major() { # $1 = java home; prints the feature version or nothing
  local j="$1/bin/java" v
  [ -x "$j" ] || return 0
  v="$("$j" -XshowSettings:properties -version 2>&1 \
        | awk -F'= ' '/^[[:space:]]*java\.specification\.version =/ {print $2; exit}')"
  printf '%s' "${v%%.*}"
}

find_java() {
  local cand m
  if [ -n "${JAVA_HOME:-}" ]; then
    m="$(java_major "$JAVA_HOME")"
    if [ -n "$m" ] && [ "$m" -ge "$MIN_JAVA" ]; then printf '%s' "$JAVA_HOME"; return 0; fi
    log "JAVA_HOME=$JAVA_HOME is Java ${m:-?}, Trino $VERSION needs >= $MIN_JAVA; looking further"
  fi
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*; do
    [ -d "$cand" ] || continue
    m="$(java_major "$cand")"
    if [ -n "$m" ] && [ "$m" -ge "$MIN_JAVA" ]; then printf '%s' "$cand"; return 0; fi
  done
  return 1
}

TRINO_JAVA_HOME="$(find_java)" || die "no Java >= $MIN_JAVA found (checked \$JAVA_HOME, /usr/lib/jvm/temurin-25*, /usr/lib/jvm/*). Install a JDK >= $MIN_JAVA (e.g. Temurin 25) and set JAVA_HOME."
log "java: $TRINO_JAVA_HOME (Java $(java_major "$TRINO_JAVA_HOME"))"

# ---------------------------------------------------------------- helpers
mkdir -p "$DL"
# One run at a time per version (the cache is shared).
exec 9>"$BASE/.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9 || die "could not lock $BASE/.lock"
fi

TMP="$(mktemp -d "$BASE/.tmp.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

TOTAL_BYTES=0
TOTAL_SECS=0

human() { awk -v b="$1" 'BEGIN { split("B KB MB GB", u); i=1; while (b>=1024 && i<4) { b/=1024; i++ } printf "%.1f %s", b, u[i] }'; }

url_of() { # groupId artifactId version classifier-or-empty ext
  local g="${1//.//}" a="$2" v="$3" c="$4" e="$5"
  printf '%s/%s/%s/%s/%s-%s%s.%s' "$REPO" "$g" "$a" "$v" "$a" "$v" "${c:+-$c}" "$e"
}

exists() { curl -fsSLI -o /dev/null --retry 2 --max-time 60 "$1" 2>/dev/null; }

sha1_of_remote() { # prints the 40-hex sha1 published next to $1
  curl -fsSL --retry 3 --max-time 60 "$1.sha1" | tr -d '\r' | awk '{print $1; exit}'
}

# fetch URL -> $DL/<name> (path in $FETCHED), verified against .sha1; skips
# when already cached. Not meant for $(...): it updates the download totals.
FETCHED=""
fetch() {
  local url="$1" name dest want got start secs size
  name="$(basename "$url")"
  dest="$DL/$name"
  want="$(sha1_of_remote "$url")" || die "no checksum at $url.sha1"
  [[ "$want" =~ ^[0-9a-f]{40}$ ]] || die "bad checksum file $url.sha1: '$want'"
  if [ -f "$dest" ] && [ -f "$dest.sha1" ] && [ "$(cat "$dest.sha1")" = "$want" ]; then
    log "cached: $name"
    FETCHED="$dest"
    return 0
  fi
  log "downloading $url"
  start=$(date +%s.%N)
  curl -fSL --retry 3 --retry-delay 2 --connect-timeout 30 -sS -o "$TMP/$name.part" "$url" \
    || die "download failed: $url"
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e-s }')
  got="$(sha1sum "$TMP/$name.part" | awk '{print $1}')"
  [ "$got" = "$want" ] || die "SHA-1 mismatch for $name: got $got, expected $want"
  size=$(stat -c %s "$TMP/$name.part")
  TOTAL_BYTES=$((TOTAL_BYTES + size))
  TOTAL_SECS=$(awk -v a="$TOTAL_SECS" -v b="$secs" 'BEGIN { printf "%.1f", a+b }')
  log "  $(human "$size") in ${secs}s, sha1 ok ($got)"
  mv -f "$TMP/$name.part" "$dest"
  printf '%s' "$want" > "$dest.sha1.tmp" && mv -f "$dest.sha1.tmp" "$dest.sha1"
  FETCHED="$dest"
}

want_marker() { printf 'version=%s\nplugins=%s\n' "$VERSION" "$(tr ' ' '\n' <<<"$PLUGINS" | sed '/^$/d' | sort | tr '\n' ' ')"; }

# ---------------------------------------------------------------- server
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(want_marker)" ] \
   && [ -x "$TRINO_HOME/bin/launcher" ] && [ -d "$TRINO_HOME/lib" ]; then
  log "cached: $TRINO_HOME (plugins: $PLUGINS)"
else
  t0=$(date +%s)
  STAGE="$TMP/stage"
  mkdir -p "$STAGE"

  split_ok=1
  CORE_URL="$(url_of io.trino trino-server-core "$VERSION" '' tar.gz)"
  exists "$CORE_URL" && exists "$CORE_URL.sha1" || split_ok=0
  if [ "$split_ok" = 1 ]; then
    for p in $PLUGINS; do
      u="$(url_of io.trino "trino-$p" "$VERSION" '' zip)"
      if ! { exists "$u" && exists "$u.sha1"; }; then
        log "not in repository: io.trino:trino-$p:$VERSION:zip -> using the full server tarball"
        split_ok=0
        break
      fi
    done
  fi

  if [ "$split_ok" = 1 ]; then
    log "source: trino-server-core $VERSION + plugin zips ($PLUGINS)"
    command -v unzip >/dev/null 2>&1 || die "unzip not found (run scripts/setup-system.sh)"
    fetch "$CORE_URL"; core="$FETCHED"
    tar -xzf "$core" -C "$STAGE"
    root="$STAGE/trino-server-core-$VERSION"
    for p in $PLUGINS; do
      fetch "$(url_of io.trino "trino-$p" "$VERSION" '' zip)"; z="$FETCHED"
      unzip -q "$z" -d "$TMP/zip-$p"
      rm -rf "${root:?}/plugin/$p"
      mv "$TMP/zip-$p/trino-$p-$VERSION" "$root/plugin/$p"
    done
  else
    FULL_URL="$(url_of io.trino trino-server "$VERSION" '' tar.gz)"
    log "source: trino-server $VERSION (full), extracting core + plugins: $PLUGINS"
    fetch "$FULL_URL"; full="$FETCHED"
    top="trino-server-$VERSION"
    # The full tarball stores duplicate jars as hard links across plugin dirs
    # (e.g. plugin/exchange-filesystem/x.jar -> plugin/delta-lake/x.jar), so a
    # selective extraction breaks; extract everything, then prune the plugins.
    tar -xzf "$full" -C "$STAGE"
    for p in $PLUGINS; do
      [ -d "$STAGE/$top/plugin/$p" ] || die "plugin '$p' not found in $(basename "$full")"
    done
    for d in "$STAGE/$top/plugin"/*; do
      p="$(basename "$d")"
      case " $CORE_PLUGINS $PLUGINS " in
        *" $p "*) ;;
        *) rm -rf "$d" ;;
      esac
    done
    root="$STAGE/$top"
  fi

  [ -x "$root/bin/launcher" ] || die "extracted server has no bin/launcher"
  for p in $PLUGINS; do
    [ -d "$root/plugin/$p" ] || die "plugin dir $p missing after extraction"
  done
  want_marker > "$root/.datamesh-complete"
  # Atomic replace: move the old home aside, rename the new one into place.
  if [ -e "$TRINO_HOME" ]; then mv "$TRINO_HOME" "$TMP/old-home"; fi
  mv "$root" "$TRINO_HOME"
  log "installed $TRINO_HOME in $(( $(date +%s) - t0 ))s ($(du -sh "$TRINO_HOME" | cut -f1) on disk)"
  if [ "${TRINO_KEEP_DOWNLOADS:-0}" != 1 ]; then
    find "$DL" -maxdepth 1 -type f \( -name 'trino-server*' -o -name 'trino-[a-z]*-'"$VERSION"'.zip*' \) -delete
  fi
fi

# ---------------------------------------------------------------- CLI
if [ "${TRINO_SKIP_CLI:-0}" != 1 ]; then
  if [ -f "$CLI_JAR" ] && [ -f "$CLI_JAR.sha1" ] \
     && [ "$(sha1sum "$CLI_JAR" | awk '{print $1}')" = "$(cat "$CLI_JAR.sha1")" ]; then
    log "cached: $CLI_JAR"
  else
    fetch "$(url_of io.trino trino-cli "$VERSION" executable jar)"; jar="$FETCHED"
    cp -f "$jar" "$TMP/trino-cli.jar" && chmod 0755 "$TMP/trino-cli.jar"
    mv -f "$TMP/trino-cli.jar" "$CLI_JAR"
    cp -f "$jar.sha1" "$CLI_JAR.sha1"
    if [ "${TRINO_KEEP_DOWNLOADS:-0}" != 1 ]; then rm -f "$jar" "$jar.sha1"; fi
  fi
fi

# ---------------------------------------------------------------- class archive
# A class-data sharing archive of the classes Trino loads from lib/ as it starts: a local Trino
# that maps it starts on about a quarter less CPU (docs/benchmarks.md). It is made once, by
# starting this Trino with catalogs of each kept plugin and stopping it, and it is valid for this
# Trino and this JDK only, hence the key. Making it is an optimisation: a failure only says so.
ARCHIVE_DIR="$BASE/class-archive"
ARCHIVE="$ARCHIVE_DIR/$(sha256sum "$TRINO_JAVA_HOME/release" | cut -c1-12).jsa"
free_port() {
  local p
  for p in $(shuf -i 30000-39999 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%s' "$p"; return 0; fi
  done
  return 1
}
make_class_archive() {
  local run="$TMP/archive-run" port pid waited=0
  port="$(free_port)" || { log "no free port to start Trino on; no class archive made"; return 0; }
  mkdir -p "$run/etc/catalog" "$run/data" "$run/warehouse" "$ARCHIVE_DIR"
  printf '%s\n' -server -Xmx1G -XX:+UseG1GC -XX:G1HeapRegionSize=4M "-XX:ArchiveClassesAtExit=$ARCHIVE.tmp.$$" > "$run/etc/jvm.config"
  printf 'coordinator=true\ndiscovery.uri=http://127.0.0.1:%s\nhttp-server.http.port=%s\nnode-scheduler.include-coordinator=true\n' "$port" "$port" > "$run/etc/config.properties"
  printf 'node.bind-ip=127.0.0.1\nnode.environment=setup\nnode.id=class-archive\nnode.internal-address=127.0.0.1\nplugin.dir=%s/plugin\n' "$TRINO_HOME" > "$run/etc/node.properties"
  # The connectors make no connection until queried; these only make Trino load them.
  for p in $PLUGINS; do
    case "$p" in
      postgresql) printf 'connector.name=postgresql\nconnection-url=jdbc:postgresql://127.0.0.1:1/none\n' ;;
      mariadb) printf 'connector.name=mariadb\nconnection-url=jdbc:mariadb://127.0.0.1:1\n' ;;
      iceberg) printf 'connector.name=iceberg\niceberg.catalog.type=jdbc\niceberg.jdbc-catalog.catalog-name=none\niceberg.jdbc-catalog.connection-url=jdbc:postgresql://127.0.0.1:1/none\niceberg.jdbc-catalog.driver-class=org.postgresql.Driver\niceberg.jdbc-catalog.default-warehouse-dir=local:///\nfs.native-local.enabled=true\nlocal.location=%s\n' "$run/warehouse" ;;
      *) continue ;;
    esac > "$run/etc/catalog/$p.properties"
  done
  JAVA_HOME="$TRINO_JAVA_HOME" PATH="$TRINO_JAVA_HOME/bin:$PATH" "$TRINO_HOME/bin/launcher" run --etc-dir="$run/etc" --data-dir="$run/data" > "$run/trino.log" 2>&1 &
  pid=$!
  until grep -q "SERVER STARTED" "$run/trino.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$waited" -ge 300 ]; then
      kill "$pid" 2>/dev/null || true
      log "Trino did not start to make its class archive (see the last lines below); Trino will start without one"
      tail -5 "$run/trino.log" >&2
      return 0
    fi
    sleep 1; waited=$((waited + 1))
  done
  # The JVM writes the archive as it exits.
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  if [ -s "$ARCHIVE.tmp.$$" ]; then
    chmod 0644 "$ARCHIVE.tmp.$$"
    mv -f "$ARCHIVE.tmp.$$" "$ARCHIVE"
    log "class archive made in ${waited}s of start: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1))"
  else
    rm -f "$ARCHIVE.tmp.$$"
    log "Trino wrote no class archive; Trino will start without one"
  fi
}
if [ -s "$ARCHIVE" ]; then
  log "cached: $ARCHIVE"
else
  make_class_archive
fi

if [ "$TOTAL_BYTES" -gt 0 ]; then
  log "downloaded $(human "$TOTAL_BYTES") in ${TOTAL_SECS}s"
fi

echo "TRINO_JAVA_HOME=$TRINO_JAVA_HOME"
if [ "${TRINO_SKIP_CLI:-0}" != 1 ]; then echo "TRINO_CLI=$CLI_JAR"; fi
echo "TRINO_HOME=$TRINO_HOME"
if [ -s "$ARCHIVE" ]; then echo "TRINO_CLASS_ARCHIVE=$ARCHIVE"; fi
