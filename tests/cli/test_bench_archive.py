"""`hush bench archive`'s catch-up rounds: each a whole fetch, repeated rounds not refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hush.cli.bench_archive import bench_catch_up


def test_repeated_catch_up_rounds_all_complete(tmp_path: Path) -> None:
    # 12 rounds × 2 runs = 24 requests from one client: past admission's per-peer burst of 20,
    # so a bench server with the default admission would refuse the last rounds.
    result = asyncio.run(
        bench_catch_up(
            str(tmp_path / "archive.sqlite"),
            per_day=300,
            want=10,
            share=0.5,
            size=300,
            repeat=12,
            raw=False,
        )
    )
    for name in ("v2", "v2_sequential"):
        runs = result[name]["runs"]
        assert len(runs) == 12 and result[name]["failed_runs"] == 0
        assert all(r["error"] is None and r["envelopes"] == r["in_filter"] > 0 for r in runs)
