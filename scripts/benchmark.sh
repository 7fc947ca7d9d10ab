#!/usr/bin/env bash
# Measures the stack (cold, no-op, one-model edit, destroy: medians of BENCHMARK_RUNS, default 3),
# then per scale of BENCHMARK_SCALES (default "1 100 1000 10000") the federated build beside a
# centralized one (the same rows and dbt project in one PostgreSQL, built by dbt-postgres), into
# benchmarks/results.json, and draws docs/benchmark-scales.png from it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
bench_dbt="$(bash scripts/setup-dbt.sh benchmarks/requirements.txt | sed -n 's/^DBT_BIN=//p')"
export BENCHMARK_DBT_POSTGRES="$bench_dbt"
# shellcheck source=env.sh
. scripts/env.sh
node scripts/ts-run.js benchmarks/run.ts
# BENCHMARK_SCALES="" measures the canonical data only: there is no scale to draw then; a partial
# run kept apart (BENCHMARK_RESULTS) leaves the chart as it is.
if [[ "${BENCHMARK_SCALES-unset}" != "" && -z "${BENCHMARK_RESULTS:-}" ]]; then
  "$(dirname "$bench_dbt")/python" benchmarks/chart.py benchmarks/results.json docs/benchmark-scales.png
fi
