#!/bin/sh
# Entry point of the datamesh test seaweedfs image, with the official image's interface: the
# first argument names a weed subcommand, and the common ones get the official defaults
# (their data under /data) unless the caller passes that flag itself. Started as root, it
# gives /data to the user seaweed and re-runs itself as that user.
set -eu

# FIPS 140-3 mode on by default, as in the official image (GODEBUG=fips140=off turns it off).
export GODEBUG="${GODEBUG:+$GODEBUG,}fips140=on"

if [ "$(id -u)" = 0 ]; then
    uid="$(id -u seaweed)"
    gid="$(id -g seaweed)"
    mkdir -p /data
    if [ "$(stat -c %u /data)" != "$uid" ] || [ "$(stat -c %g /data)" != "$gid" ]; then
        echo "giving /data to seaweed ($uid:$gid)" >&2
        chown -R seaweed:seaweed /data || echo "warning: could not chown /data" >&2
    fi
    exec setpriv --reuid=seaweed --regid=seaweed --init-groups -- "$0" "$@"
fi

# has FLAG ARGS...: whether FLAG (as -flag or --flag, alone or with =value) is among ARGS.
has() {
    flag="${1#-}"
    shift
    for given in "$@"; do
        case "$given" in
            "-$flag" | "--$flag" | "-$flag="* | "--$flag="*) return 0 ;;
        esac
    done
    return 1
}

[ $# -gt 0 ] || set -- mini

command="$1"
shift
case "$command" in
    master)
        set -- -mdir=/data -volumeSizeLimitMB=1024 "$@"
        ;;
    volume)
        if has max "$@"; then set -- -dir=/data "$@"; else set -- -dir=/data -max=0 "$@"; fi
        ;;
    server)
        if has volume.max "$@"; then
            set -- -dir=/data -master.volumeSizeLimitMB=1024 "$@"
        else
            set -- -dir=/data -volume.max=0 -master.volumeSizeLimitMB=1024 "$@"
        fi
        ;;
    mini)
        has dir "$@" || set -- -dir=/data "$@"
        ;;
    filer)
        ;;
    s3)
        # The official image's variables for the S3 gateway's domain and TLS files.
        [ -z "${S3_CERT_FILE:-}" ] || set -- "-cert.file=$S3_CERT_FILE" "$@"
        [ -z "${S3_KEY_FILE:-}" ] || set -- "-key.file=$S3_KEY_FILE" "$@"
        [ -z "${S3_DOMAIN_NAME:-}" ] || set -- "-domainName=$S3_DOMAIN_NAME" "$@"
        ;;
    shell)
        # As in the official image: the arguments are one shell command, piped into `weed shell`,
        # which finds the cluster through the SHELL_* variables.
        script="$*"
        set --
        [ -z "${SHELL_CLUSTER:-}" ] || set -- "$@" "-cluster=$SHELL_CLUSTER"
        [ -z "${SHELL_FILER:-}" ] || set -- "$@" "-filer=$SHELL_FILER"
        [ -z "${SHELL_FILER_GROUP:-}" ] || set -- "$@" "-filerGroup=$SHELL_FILER_GROUP"
        [ -z "${SHELL_MASTER:-}" ] || set -- "$@" "-master=$SHELL_MASTER"
        [ -z "${SHELL_OPTIONS:-}" ] || set -- "$@" "-options=$SHELL_OPTIONS"
        echo "$script" | exec /usr/bin/weed -logtostderr=true shell "$@"
        ;;
    *)
        exec /usr/bin/weed "$command" "$@"
        ;;
esac
exec /usr/bin/weed -logtostderr=true "$command" "$@"
