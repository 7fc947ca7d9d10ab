# Sourced by the other scripts (and by you, to use `pulumi` by hand): the pinned toolchain on
# PATH and a local file backend in the user's state folder, so no Pulumi Cloud account is involved.
# shellcheck shell=bash
DATAMESH_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$DATAMESH_REPO/versions.env"
export DATAMESH_CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
# Pulumi finds the Kubernetes and Docker provider plugins on PATH ("ambient" plugins), so nothing is downloaded.
export PATH="$DATAMESH_CACHE/pulumi/v$PULUMI_VERSION/bin:$DATAMESH_CACHE/pulumi-kubernetes/v$KUBERNETES_PROVIDER_VERSION/bin:$DATAMESH_CACHE/pulumi-docker/v$DOCKER_PROVIDER_VERSION/bin:$DATAMESH_REPO/node_modules/.bin:$PATH"
# The stack's state (a local file backend) and the passphrase that encrypts its secrets live in the
# user's state folder, keyed by the project's name, not in the checkout: `git clean -xfd` cannot
# delete them, and a moved checkout finds them again. Back up that folder.
DATAMESH_PROJECT="$(sed -n 's/^name: *//p' "$DATAMESH_REPO/Pulumi.yaml" | head -n 1)"
export DATAMESH_STATE_HOME="${DATAMESH_STATE_HOME:-${XDG_STATE_HOME:-$HOME/.local/state}/datamesh/$DATAMESH_PROJECT}"
# Where a checkout kept its state and passphrase before: used as long as that state is there.
DATAMESH_LEGACY_BACKEND="$DATAMESH_REPO/.pulumi-state"
DATAMESH_LEGACY_PASSPHRASE="${XDG_CONFIG_HOME:-$HOME/.config}/datamesh/passphrases/$(printf '%s' "$DATAMESH_REPO" | sha256sum | cut -c1-16)"
datamesh_legacy_state=""
if [[ -z "${PULUMI_BACKEND_URL:-}" ]]; then
  if [[ -d "$DATAMESH_LEGACY_BACKEND/.pulumi" ]]; then
    datamesh_legacy_state=1
    export PULUMI_BACKEND_URL="file://$DATAMESH_LEGACY_BACKEND"
    echo "[env] this checkout's state is still in $DATAMESH_LEGACY_BACKEND, which git clean -xfd deletes; move it out with: scripts/move-state.sh" >&2
  else
    (umask 077 && mkdir -p "$DATAMESH_STATE_HOME/backend")
    export PULUMI_BACKEND_URL="file://$DATAMESH_STATE_HOME/backend"
  fi
fi
if [[ -n "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "$PULUMI_CONFIG_PASSPHRASE" ]]; then
  echo "[env] PULUMI_CONFIG_PASSPHRASE is set but empty, which would encrypt the stack's secrets with nothing; unset it (the stack's own passphrase file is then used) or give a real one" >&2
  return 1 2>/dev/null || exit 1
fi
if [[ -z "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  if [[ -n "$datamesh_legacy_state" && -s "$DATAMESH_LEGACY_PASSPHRASE" ]]; then
    DATAMESH_PASSPHRASE_FILE="$DATAMESH_LEGACY_PASSPHRASE"
  else
    DATAMESH_PASSPHRASE_FILE="$DATAMESH_STATE_HOME/passphrase"
  fi
  if [[ ! -s "$DATAMESH_PASSPHRASE_FILE" ]]; then
    (umask 077 && mkdir -p "$(dirname "$DATAMESH_PASSPHRASE_FILE")" && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$DATAMESH_PASSPHRASE_FILE")
    echo "[env] generated the state passphrase of $DATAMESH_PROJECT in $DATAMESH_PASSPHRASE_FILE; back up $DATAMESH_STATE_HOME: without the passphrase the stack's secrets cannot be read" >&2
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$DATAMESH_PASSPHRASE_FILE"
fi
unset datamesh_legacy_state
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
