"""Run every `hush bench` three times and print the medians as JSON (feeds BENCHMARKS.md).

Usage: .venv/bin/python benchmarks/run_all.py [--seconds 3] > results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Any

RUNS = 3


def bench(*argv: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "hush.cli.main", "bench", *argv, "--json"]
    result: dict[str, Any] = json.loads(
        subprocess.run(command, check=True, capture_output=True).stdout
    )
    return result


def median_of(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", default="3")
    args = parser.parse_args()
    summary: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
    }
    for size in ("100", "4096", "65536"):
        runs = [bench("pow", "--size", size, "--seconds", args.seconds) for _ in range(RUNS)]
        summary[f"pow_{size}"] = {
            "nonces_per_s_all_cores": median_of(runs, "nonces_per_s"),
            "nonces_per_s_per_process": statistics.median(
                rate for run in runs for rate in run["nonces_per_s_per_process"]
            ),
            "geth_shaped_nonces_per_s": median_of(runs, "geth_shaped_nonces_per_s"),
            "ratio_vs_geth_shaped": median_of(runs, "ratio_vs_geth_shaped"),
            "ratio_vs_geth_1_9_7": median_of(runs, "ratio_vs_geth_1_9_7"),
            "all_runs": [run["nonces_per_s"] for run in runs],
        }
    runs = [bench("validate", "--seconds", args.seconds) for _ in range(RUNS)]
    summary["validate"] = {
        "per_core": median_of(runs, "envelopes_per_s_per_core"),
        "all_runs": [run["envelopes_per_s_per_core"] for run in runs],
    }
    runs = [bench("open", "--seconds", args.seconds) for _ in range(RUNS)]
    summary["open"] = {
        name: median_of(runs, "per_core_per_s", name) for name in runs[0]["per_core_per_s"]
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
