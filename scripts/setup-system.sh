#!/usr/bin/env bash
# Ensures the Debian packages the data mesh needs are installed:
#   - PostgreSQL 15 server (domain databases "customers", "payments" and the
#     Iceberg JDBC metastore of "insights")
#   - MariaDB server + client (domain database "orders")
#   - small tools used by the other scripts (curl, tar/gzip, unzip, procps)
#   - Chromium, which the browser tests drive through playwright-core (npm)
#
# The database services are installed but never started or enabled: the
# project runs its own instances (own data dirs, ports, loopback only).
# A policy-rc.d that denies every service start is put in place for the
# duration of the install and removed (or the previous one restored) after.
#
# Idempotent and fast when everything is present: `dpkg -s` is checked first
# and `apt-get update` only runs when something is missing.
set -euo pipefail

log() { printf '[setup-system] %s\n' "$*"; }
die() { printf '[setup-system] ERROR: %s\n' "$*" >&2; exit 1; }

PACKAGES=(
  postgresql-15
  postgresql-client-15
  mariadb-server
  mariadb-client
  curl
  ca-certificates
  tar
  gzip
  unzip
  procps
  openssl
  chromium
)

is_installed() {
  # "install ok installed" only; half-installed / config-files do not count.
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  log "all packages present: ${PACKAGES[*]}"
else
  log "missing packages: ${missing[*]}"

  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      die "need root (or sudo) to install: ${missing[*]}"
    fi
  else
    SUDO=()
  fi

  POLICY=/usr/sbin/policy-rc.d
  POLICY_BACKUP=""
  restore_policy() {
    if [ -n "$POLICY_BACKUP" ] && [ -e "$POLICY_BACKUP" ]; then
      "${SUDO[@]}" mv -f "$POLICY_BACKUP" "$POLICY"
      log "restored previous $POLICY"
    else
      "${SUDO[@]}" rm -f "$POLICY"
      log "removed temporary $POLICY"
    fi
  }
  if [ -e "$POLICY" ]; then
    POLICY_BACKUP="$(mktemp /usr/sbin/policy-rc.d.datamesh-backup.XXXXXX)"
    "${SUDO[@]}" cp -p "$POLICY" "$POLICY_BACKUP"
  fi
  trap restore_policy EXIT
  # exit 101 = "action forbidden by policy": invoke-rc.d / deb-systemd-invoke
  # will not start mariadb / postgresql during the install.
  printf '#!/bin/sh\n# written by setup-system.sh: deny service starts during install\nexit 101\n' \
    | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"

  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  "${SUDO[@]}" apt-get update -qq
  log "apt-get install ${missing[*]}"
  start=$(date +%s)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
  log "installed in $(( $(date +%s) - start ))s"

  # Do not leave the system services enabled for boot (where an init exists).
  for svc in mariadb postgresql; do
    if command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable "$svc.service" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$svc" ]; then
      "${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done

  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || die "package $pkg still not installed"
  done
fi

# Report the binaries the other scripts rely on.
PG_BIN=/usr/lib/postgresql/15/bin
[ -x "$PG_BIN/postgres" ] || die "$PG_BIN/postgres not found"
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || die "mariadbd not found"
command -v mariadb-install-db >/dev/null 2>&1 || die "mariadb-install-db not found"
id postgres >/dev/null 2>&1 || die "system user 'postgres' missing"
id mysql >/dev/null 2>&1 || die "system user 'mysql' missing"
log "PG_BIN=$PG_BIN"
log "MARIADBD=$(command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd)"
log "ok"
