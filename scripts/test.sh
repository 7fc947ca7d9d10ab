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
# Two workers, one per core: the live-cluster suite, the longest, runs on one (tests/sequencer.js
# starts it first) while the other works through the rest; on this project's 2-core machine that
# took a warm run from about 55 minutes to 48 (docs/toolchain.md). Every local stack takes a free
# port range and a state folder of its own, so suites share nothing but the machine.
npx jest --ci --maxWorkers=2 --json --outputFile="$results" "$@" || status=$?
# Each suite's wall time and the slowest tests, from jest's own record of the run, so that a CI log
# shows what each suite costs.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const path = require("path");
  const suites = r.testResults.map((s) => ({ name: path.basename(s.name), seconds: (s.endTime - s.startTime) / 1000, tests: s.assertionResults }));
  suites.sort((a, b) => b.seconds - a.seconds);
  console.log("suite seconds:");
  for (const s of suites) console.log(`  ${s.seconds.toFixed(0).padStart(6)}  ${s.name} (${s.tests.length} tests)`);
  const slow = suites.flatMap((s) => s.tests.map((t) => ({ suite: s.name, title: t.title, seconds: (t.duration ?? 0) / 1000 })))
    .filter((t) => t.seconds >= 20).sort((a, b) => b.seconds - a.seconds);
  console.log("tests of 20 s or more:");
  for (const t of slow) console.log(`  ${t.seconds.toFixed(0).padStart(6)}  ${t.suite}: ${t.title.slice(0, 110)}`);
  const wall = (Math.max(...r.testResults.map((s) => s.endTime)) - Math.min(...r.testResults.map((s) => s.startTime))) / 1000;
  console.log(`jest wall time: ${wall.toFixed(0)} s, the suites side by side on two workers`);
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results"
exit "$status"
