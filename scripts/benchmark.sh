#!/usr/bin/env bash
# Measures cold up, no-op up and destroy (medians of BENCHMARK_RUNS, default 3) into benchmarks/results.json.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
# shellcheck source=env.sh
. scripts/env.sh
node scripts/ts-run.js benchmarks/run.ts
