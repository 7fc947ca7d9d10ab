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
pulumi stack select --create "$stack" >/dev/null
if [[ "$(pulumi config get datamesh:platform 2>/dev/null)" == kubernetes ]]; then
  bash scripts/setup.sh --kubernetes
fi
pulumi up --yes --skip-preview
pulumi stack output
