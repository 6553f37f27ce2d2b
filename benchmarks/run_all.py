"""Run every `hush bench` three times and print the medians as JSON (feeds BENCHMARKS.md).

Usage: .venv/bin/python benchmarks/run_all.py [--seconds 3] [--quick] > results.json
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
    parser.add_argument("--quick", action="store_true", help="skip the net and rpc benchmarks")
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
        "packet_per_core": median_of(runs, "packet_envelopes_per_s_per_core"),
        "python_fallback_per_core": median_of(runs, "python_fallback_envelopes_per_s_per_core"),
    }
    runs = [bench("open", "--seconds", args.seconds) for _ in range(RUNS)]
    summary["open"] = {
        name: median_of(runs, "per_core_per_s", name) for name in runs[0]["per_core_per_s"]
    }
    if not args.quick:
        runs = [bench("net") for _ in range(RUNS)]
        summary["net"] = {
            "envelopes_per_s": median_of(runs, "link", "envelopes_per_s"),
            "cpu_s_per_1000": median_of(runs, "link", "cpu_s_per_1000"),
            "p50_ms": median_of(runs, "one_hop_latency", "p50_ms"),
            "p99_ms": median_of(runs, "one_hop_latency", "p99_ms"),
            "geth_tick_p50_ms": median_of(runs, "one_hop_latency_geth_tick", "p50_ms"),
            "rss_idle_mib": median_of(runs, "memory", "rss_idle_mib"),
            "rss_pooled_mib": median_of(runs, "memory", "rss_pooled_mib"),
        }
        runs = [bench("relay") for _ in range(RUNS)]
        summary["relay"] = {
            "envelopes_per_s": median_of(runs, "envelopes_per_s"),
            "relay_cpu_s_per_1000": median_of(runs, "relay_cpu_s_per_1000"),
            "relay_cpu_share": median_of(runs, "relay_cpu_share"),
        }
        runs = [bench("rpc") for _ in range(RUNS)]
        summary["rpc"] = {
            "posts_per_s": median_of(runs, "posts_per_second"),
            "all_runs": [run["posts_per_second"] for run in runs],
            "subscription_p50_ms": median_of(runs, "latency", "subscription", "p50_ms"),
            "subscription_p99_ms": median_of(runs, "latency", "subscription", "p99_ms"),
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
