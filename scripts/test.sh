#!/usr/bin/env bash
# The whole test suite: unit tests with Pulumi mocks, then integration tests that deploy the real
# stack (PostgreSQL, MariaDB, Trino, dbt) through the Automation API, locally and on the project's
# own Kubernetes test cluster, which the tests start and stop. Sets up what is missing first.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh --kubernetes --test-cluster
# shellcheck source=env.sh
. scripts/env.sh
npx tsc --noEmit -p .
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
npx jest --ci --runInBand --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results"
exit "$status"
