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
# The local default protects nothing that leaves this machine; set your own for anything shared.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-datamesh-local}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p "$DATAMESH_REPO/.pulumi-state"
