#!/usr/bin/env bash
# Times `scripts/test-cluster.sh up` to a Ready node, and `down`, BENCHMARK_RUNS times (default 3),
# from the cluster's own log lines, into benchmarks/test-cluster.json with the medians. Target: a
# ready node within 60 s once the cluster's binaries are built. Needs root, like the cluster.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
runs="${BENCHMARK_RUNS:-3}"
log="$(mktemp)"
trap 'rm -f "$log"; bash scripts/test-cluster.sh down >/dev/null 2>&1 || true' EXIT
bash scripts/test-cluster.sh down >/dev/null 2>&1 || true
samples=()
for run in $(seq 1 "$runs"); do
  bash scripts/test-cluster.sh up >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  node_ready="$(sed -n 's/.*node Ready after \([0-9]*\)s.*/\1/p' "$log")"
  cluster_up="$(sed -n 's/.*cluster up in \([0-9]*\)s.*/\1/p' "$log")"
  start=$SECONDS
  bash scripts/test-cluster.sh down >/dev/null 2>&1
  down=$(( SECONDS - start ))
  echo "run $run/$runs: node Ready after ${node_ready} s, cluster up (CoreDNS answering, images imported) in ${cluster_up} s, down in ${down} s"
  samples+=("{\"nodeReadySeconds\": $node_ready, \"clusterUpSeconds\": $cluster_up, \"downSeconds\": $down}")
done
node -e '
  const samples = JSON.parse(process.argv[1]);
  const median = key => { const v = samples.map(s => s[key]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
  const medians = { nodeReadySeconds: median("nodeReadySeconds"), clusterUpSeconds: median("clusterUpSeconds"), downSeconds: median("downSeconds") };
  const result = { date: new Date().toISOString(), runs: samples.length, samples, medians, targets: { nodeReadySeconds: 60 } };
  require("fs").writeFileSync("benchmarks/test-cluster.json", JSON.stringify(result, null, 2) + "\n");
  console.log(`medians: node Ready after ${medians.nodeReadySeconds} s, cluster up in ${medians.clusterUpSeconds} s, down in ${medians.downSeconds} s (target: a Ready node within 60 s)`);
' "[$(IFS=,; echo "${samples[*]}")]"
