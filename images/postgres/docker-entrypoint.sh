#!/usr/bin/env bash
# Entry point of the datamesh test postgres image. Behaves, for what the stack uses, like the
# official image's: an empty PGDATA is initialised (superuser from POSTGRES_USER, default
# postgres, with the password from POSTGRES_PASSWORD or the file named by POSTGRES_PASSWORD_FILE),
# host connections from anywhere need that password (scram-sha-256), the server listens on all
# addresses, and it runs as the postgres user even when the container starts as root.
set -Eeuo pipefail

say() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# VAR from VAR itself or from the file VAR_FILE names; both at once is an error.
from_env_or_file() {
    local name="$1" file_name="${1}_FILE" fallback="${2:-}"
    if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
        say "error: $name and $file_name are both set; set one of them"
        exit 1
    fi
    local value="$fallback"
    if [ -n "${!name:-}" ]; then
        value="${!name}"
    elif [ -n "${!file_name:-}" ]; then
        value="$(cat -- "${!file_name}")"
    fi
    export "$name=$value"
    unset "$file_name"
}

wants_help() {
    local arg
    for arg in "$@"; do
        case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
    done
    return 1
}

initialise() {
    from_env_or_file POSTGRES_PASSWORD
    from_env_or_file POSTGRES_USER postgres
    from_env_or_file POSTGRES_DB "$POSTGRES_USER"
    from_env_or_file POSTGRES_INITDB_ARGS
    local method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$method" != trust ]; then
        say "error: the database is uninitialised and no superuser password is given:"
        say "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)"
        exit 1
    fi
    say "initialising $PGDATA for superuser $POSTGRES_USER"
    local pwfile=""
    local -a args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$method")
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
        args+=(--pwfile="$pwfile")
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image.
    if ! initdb "${args[@]}" ${POSTGRES_INITDB_ARGS:-} >&2; then
        [ -z "$pwfile" ] || rm -f "$pwfile"
        exit 1
    fi
    [ -z "$pwfile" ] || rm -f "$pwfile"
    printf "\n# datamesh test image: reachable from other pods\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf '\n# datamesh test image: every other host, with a password\nhost all all all %s\n' "$method" >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        local quoted="${POSTGRES_DB//\"/\"\"}"
        printf 'CREATE DATABASE "%s";\n' "$quoted" | postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    say "initialisation complete; starting the server"
}

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && ! wants_help "$@"; then
    export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
    if [ "$(id -u)" = 0 ]; then
        # A freshly mounted volume belongs to root: hand the data folder to postgres, then drop privileges.
        mkdir -p "$PGDATA" /var/run/postgresql
        # The test cluster's hostPath provisioner makes each volume's root 0750 root:root, where
        # other provisioners leave it traversable; postgres must reach PGDATA below it.
        parent="$(dirname "$PGDATA")"
        if [ "$parent" != / ] && ! setpriv --reuid=postgres --regid=postgres --init-groups -- test -x "$parent"; then
            chmod o+x "$parent"
        fi
        find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
        chmod 0700 "$PGDATA"
        chown postgres:postgres /var/run/postgresql
        chmod 3777 /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
    fi
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA" 2>/dev/null || true
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        initialise
    fi
fi

exec "$@"
