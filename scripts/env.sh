# Sourced by the other scripts (and by you, to use `pulumi` by hand): the pinned toolchain on
# PATH and a local file backend inside the project, so no Pulumi Cloud account is involved.
# shellcheck shell=bash
DATAMESH_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
. "$DATAMESH_REPO/versions.env"
export DATAMESH_CACHE="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
# Pulumi finds the Kubernetes provider plugin on PATH (an "ambient" plugin), so nothing is downloaded.
export PATH="$DATAMESH_CACHE/pulumi/v$PULUMI_VERSION/bin:$DATAMESH_CACHE/pulumi-kubernetes/v$KUBERNETES_PROVIDER_VERSION/bin:$DATAMESH_REPO/node_modules/.bin:$PATH"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$DATAMESH_REPO/.pulumi-state}"
# The state's secrets are encrypted with a passphrase of this checkout's own, generated on first use
# and kept outside the repository (0600), unless you give one: PULUMI_CONFIG_PASSPHRASE,
# PULUMI_CONFIG_PASSPHRASE_FILE, or a --secrets-provider of your stack.
if [[ -z "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  DATAMESH_PASSPHRASE_FILE="${XDG_CONFIG_HOME:-$HOME/.config}/datamesh/passphrases/$(printf '%s' "$DATAMESH_REPO" | sha256sum | cut -c1-16)"
  if [[ ! -s "$DATAMESH_PASSPHRASE_FILE" ]]; then
    (umask 077 && mkdir -p "$(dirname "$DATAMESH_PASSPHRASE_FILE")" && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$DATAMESH_PASSPHRASE_FILE")
    echo "[env] generated the state passphrase of $DATAMESH_REPO in $DATAMESH_PASSPHRASE_FILE; back that file up: without it the stack's secrets cannot be read" >&2
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$DATAMESH_PASSPHRASE_FILE"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p "$DATAMESH_REPO/.pulumi-state"
