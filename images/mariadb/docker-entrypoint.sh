#!/usr/bin/env bash
# Entry point of the datamesh test mariadb image. Behaves, for what the stack uses, like the
# official image's: an empty data folder is initialised with root's password (MARIADB_ROOT_PASSWORD,
# or the file MARIADB_ROOT_PASSWORD_FILE names; MYSQL_* spellings too) for root@'%' and
# root@localhost, optionally a database and a user (MARIADB_DATABASE, MARIADB_USER,
# MARIADB_PASSWORD), and the server runs as mysql even when the container starts as root.
set -Eeuo pipefail

say() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# MARIADB_X from itself, MARIADB_X_FILE, MYSQL_X or MYSQL_X_FILE, in that order.
from_env_or_file() {
    local suffix="$1" value="" name
    for name in "MARIADB_$suffix" "MYSQL_$suffix"; do
        local file_name="${name}_FILE"
        if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
            say "error: $name and $file_name are both set; set one of them"
            exit 1
        fi
        if [ -z "$value" ]; then
            if [ -n "${!name:-}" ]; then
                value="${!name}"
            elif [ -n "${!file_name:-}" ]; then
                value="$(cat -- "${!file_name}")"
            fi
        fi
        unset "$file_name"
    done
    export "MARIADB_$suffix=$value"
}

# A value as an SQL string literal's body.
sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

wants_help() {
    local arg
    for arg in "$@"; do
        case "$arg" in -'?'|--help|--print-defaults|-V|--version) return 0 ;; esac
    done
    return 1
}

config_value() { # the server's effective value of an option, with the command's own flags
    "$@" --verbose --help 2>/dev/null | awk -v key="$OPTION" '$1 == key { print $2; exit }'
}

initialise() {
    local datadir="$1" socket="$2"
    shift 2
    from_env_or_file ROOT_PASSWORD
    from_env_or_file ROOT_HOST
    from_env_or_file DATABASE
    from_env_or_file USER
    from_env_or_file PASSWORD
    from_env_or_file ALLOW_EMPTY_ROOT_PASSWORD
    from_env_or_file RANDOM_ROOT_PASSWORD
    local root_host="${MARIADB_ROOT_HOST:-%}"
    if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ] && [ -z "$MARIADB_ROOT_PASSWORD" ]; then
        MARIADB_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
        say "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
    fi
    if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ]; then
        say "error: the database is uninitialised and no root password is given:"
        say "set MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD / MARIADB_RANDOM_ROOT_PASSWORD)"
        exit 1
    fi
    say "initialising $datadir"
    mariadb-install-db --datadir="$datadir" --rpm --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve --default-time-zone=SYSTEM >&2

    say "starting a temporary server on $socket only"
    "$@" --skip-networking --socket="$socket" --skip-log-bin --default-time-zone=SYSTEM \
        --loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 &
    local pid=$!
    local client=(mariadb --no-defaults --protocol=socket --socket="$socket" --user=root --batch)
    local i
    for i in $(seq 60); do
        if "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then say "error: the temporary server stopped"; exit 1; fi
        sleep 1
    done
    "${client[@]}" -e 'SELECT 1' >/dev/null

    local root_pw health_pw
    root_pw="$(sql_escape "$MARIADB_ROOT_PASSWORD")"
    health_pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        # mariadb-install-db's other root and anonymous accounts: only root@localhost and root@'<host>' stay.
        echo "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', ''@'localhost', ''@'$(sql_escape "$(hostname)")';"
        echo "DROP USER IF EXISTS 'root'@'$(sql_escape "$(hostname)")';"
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER 'root'@'$(sql_escape "$root_host")' IDENTIFIED BY '$root_pw';"
            echo "GRANT ALL ON *.* TO 'root'@'$(sql_escape "$root_host")' WITH GRANT OPTION;"
            echo "GRANT PROXY ON ''@'%' TO 'root'@'$(sql_escape "$root_host")' WITH GRANT OPTION;"
        fi
        local host
        for host in 127.0.0.1 ::1 localhost; do
            echo "CREATE USER 'healthcheck'@'$host' IDENTIFIED BY '$health_pw';"
            echo "GRANT USAGE ON *.* TO 'healthcheck'@'$host';"
        done
        if [ -n "$MARIADB_DATABASE" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE//\`/\`\`}\`;"
        fi
        if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
            echo "CREATE USER '$(sql_escape "$MARIADB_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
            if [ -n "$MARIADB_DATABASE" ]; then
                echo "GRANT ALL ON \`${MARIADB_DATABASE//\`/\`\`}\`.* TO '$(sql_escape "$MARIADB_USER")'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | "${client[@]}"
    umask 077
    printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\n' "$socket" "$health_pw" > "$datadir/.my-healthcheck.cnf"
    umask 022

    kill -TERM "$pid"
    wait "$pid" || true
    say "initialisation complete; starting the server"
}

if [ "${1:0:1}" = '-' ]; then
    set -- mariadbd "$@"
fi

if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! wants_help "$@"; then
    OPTION=datadir
    datadir="$(config_value "$@")"
    datadir="${datadir:-/var/lib/mysql/}"
    OPTION=socket
    socket="$(config_value "$@")"
    socket="${socket:-/run/mysqld/mysqld.sock}"
    if [ "$(id -u)" = 0 ]; then
        # A freshly mounted volume belongs to root: hand it to mysql, then drop privileges.
        mkdir -p "$datadir" "$(dirname "$socket")"
        find "$datadir" \! -user mysql -exec chown mysql:mysql '{}' +
        chown mysql:mysql "$(dirname "$socket")"
        exec setpriv --reuid=mysql --regid=mysql --init-groups -- "${BASH_SOURCE[0]}" "$@"
    fi
    if [ ! -d "$datadir/mysql" ]; then
        initialise "$datadir" "$socket" "$@"
    fi
fi

exec "$@"
