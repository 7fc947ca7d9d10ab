#!/usr/bin/env bash
# The main job: set up what is missing, deploy the local stack, print its outputs.
#   scripts/up.sh            # stack "dev"
#   STACK=demo scripts/up.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
# shellcheck source=env.sh
. scripts/env.sh
stack="${STACK:-dev}"

# Runs pulumi; when it fails on the state's passphrase, also says where this checkout keeps it.
pulumi_() {
  local errors status=0
  errors="$(mktemp)"
  pulumi "$@" 2>"$errors" || status=$?
  cat "$errors" >&2
  if (( status != 0 )) && grep -qi "passphrase" "$errors"; then
    # Pulumi takes the variable before the file.
    local source="${PULUMI_CONFIG_PASSPHRASE+the PULUMI_CONFIG_PASSPHRASE variable}"
    echo "[up] the state's secrets did not open with this checkout's passphrase, which is read from ${source:-${PULUMI_CONFIG_PASSPHRASE_FILE:-nowhere}}; a stack whose secrets were encrypted with another one needs that one, in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" >&2
  fi
  rm -f "$errors"
  return "$status"
}

pulumi_ stack select --create "$stack" >/dev/null
if [[ "$(pulumi config get datamesh:platform 2>/dev/null)" == kubernetes ]]; then
  bash scripts/setup.sh --kubernetes
fi
pulumi_ up --yes --skip-preview
pulumi_ stack output
