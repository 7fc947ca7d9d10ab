#!/usr/bin/env bash
# Installs everything the stack needs, once: Debian packages, npm packages, the Pulumi CLI (built
# from the Go module proxy), Trino from Maven Central and dbt from PyPI. Heavy parts are cached
# by version under ${DATAMESH_CACHE:-~/.cache/datamesh}; a second run takes seconds.
#   scripts/setup.sh                                  # the local platform
#   scripts/setup.sh --kubernetes                     # and the Kubernetes provider plugin
#   scripts/setup.sh --docker                         # and the Docker provider plugin, built from git (see setup-docker-provider.sh)
#   scripts/setup.sh --kubernetes --test-cluster      # and the project's test cluster and images
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=../versions.env
. ./versions.env
export TRINO_VERSION PULUMI_VERSION

log() { echo "[setup] $*" >&2; }

bash scripts/setup-system.sh

lock_digest="$(sha256sum package-lock.json | cut -c1-16)-$(node --version)"
if [[ "$(cat node_modules/.datamesh-lock 2>/dev/null)" != "$lock_digest" ]]; then
  log "installing npm packages from package-lock.json"
  # No package needs its install script here, and @pulumi/kubernetes's would try to download the
  # provider plugin from a site this setup does not use (the plugin is built from the Go proxy).
  npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
  echo "$lock_digest" > node_modules/.datamesh-lock
else
  log "npm packages already match package-lock.json"
fi

bash scripts/setup-pulumi.sh "$repo/node_modules" >/dev/null
bash scripts/setup-trino.sh >/dev/null
bash scripts/setup-dbt.sh >/dev/null
# The local platform needs none of what follows; a kubernetes stack, or the tests, ask for it.
if [[ " $* " == *" --kubernetes "* ]]; then
  bash scripts/setup-kubernetes-provider.sh >/dev/null
fi
if [[ " $* " == *" --docker "* ]]; then
  bash scripts/setup-docker-provider.sh >/dev/null
fi
if [[ " $* " == *" --test-cluster "* ]]; then
  bash scripts/setup-test-cluster.sh >/dev/null
  bash scripts/test-images.sh build >/dev/null
fi
log "toolchain ready in ${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
