"""Draws the benchmark's scale runs: seconds against scale, federated beside centralized.

    python benchmarks/chart.py benchmarks/results.json docs/benchmark-scales.png

Reads only what benchmarks/run.ts wrote; each point is a median of that run's samples.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def customers(count: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size:
            return f"{count // size}{suffix}"
    return str(count)


def main(results_file: str, image_file: str) -> None:
    with open(results_file, encoding="utf-8") as f:
        results = json.load(f)
    runs = sorted(results["scaleRuns"], key=lambda run: run["scale"])
    if not runs:
        sys.exit(f"{results_file} has no scaleRuns to draw")
    scales = [run["scale"] for run in runs]
    series = [
        ("dbt build, federated (Trino, Iceberg)", [run["compared"]["dbtBuild"]["federated"] for run in runs], "tab:blue", "-"),
        ("dbt build, centralized (one PostgreSQL)", [run["compared"]["dbtBuild"]["centralized"] for run in runs], "tab:orange", "-"),
        ("loads, federated (three engines)", [run["compared"]["loads"]["federated"] for run in runs], "tab:blue", ":"),
        ("loads, centralized (COPY)", [run["compared"]["loads"]["centralized"] for run in runs], "tab:orange", ":"),
        ("whole pulumi up, federated", [run["compared"]["whole"]["federated"] for run in runs], "tab:blue", "--"),
        ("load + build, centralized", [run["compared"]["whole"]["centralized"] for run in runs], "tab:orange", "--"),
        ("source-scan floor (one Trino query)", [sorted(run["sourceScanFloorSeconds"])[len(run["sourceScanFloorSeconds"]) // 2] for run in runs], "tab:gray", "-."),
    ]
    figure, axes = plt.subplots(figsize=(11, 5), dpi=100)
    for label, values, color, style in series:
        axes.plot(scales, values, label=label, color=color, linestyle=style, marker="o")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(scales)
    axes.set_xticklabels([f"{scale}\n{customers(scale * 100)}" for scale in scales])
    axes.set_xlabel("datamesh:scale, and customers (orders alike)")
    axes.set_ylabel("seconds (median)")
    axes.set_title(f"Federated vs centralized, {results['machine']['cpus']} cores, {results['date'][:10]}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.tight_layout()
    figure.savefig(image_file)
    print(f"wrote {image_file}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py RESULTS_JSON IMAGE_PNG")
    main(sys.argv[1], sys.argv[2])
