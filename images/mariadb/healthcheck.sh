#!/usr/bin/env bash
# Health check of the datamesh test mariadb image, for the tests the official image's
# healthcheck.sh offers that the stack may use:
#   --connect             the server accepts a TCP connection on its port
#   --innodb_initialized  InnoDB has finished starting
# It connects as the unprivileged healthcheck user the entrypoint created; its credentials are
# in <datadir>/.my-healthcheck.cnf. Options are checked in order; the first failure fails.
set -uo pipefail

datadir="${MARIADB_DATADIR:-/var/lib/mysql}"
defaults=()
if [ -r "$datadir/.my-healthcheck.cnf" ]; then
    defaults=(--defaults-extra-file="$datadir/.my-healthcheck.cnf")
fi

query() { mariadb "${defaults[@]}" --host=127.0.0.1 --protocol=tcp --batch --skip-column-names -e "$1" 2>&1; }

connect() {
    local out
    if out="$(query 'SELECT 1')"; then return 0; fi
    # Refused credentials still prove the server answers on TCP.
    case "$out" in *"ERROR 1045"*) return 0 ;; esac
    echo "healthcheck connect failed: $out" >&2
    return 1
}

innodb_initialized() {
    local out
    out="$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine = 'InnoDB' AND support IN ('YES', 'DEFAULT', 'ENABLED')")" || {
        echo "healthcheck innodb_initialized failed: $out" >&2
        return 1
    }
    [ "$out" = 1 ] || { echo "healthcheck innodb_initialized: InnoDB is not ready" >&2; return 1; }
}

[ $# -gt 0 ] || set -- --connect
for arg in "$@"; do
    case "$arg" in
        --connect) connect || exit 1 ;;
        --innodb_initialized) innodb_initialized || exit 1 ;;
        --su-mysql | --su=mysql | --defaults-file=* | --no-defaults | --datadir=*) ;;
        *) echo "healthcheck.sh: unsupported option $arg (this test image offers --connect and --innodb_initialized)" >&2; exit 2 ;;
    esac
done
exit 0
