"""`hush bench archive`: catch-up rounds are whole fetches and repeated rounds are not refused;
the page bench's dataset is built once and never over a real archive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hush.archive.store import ArchivedEnvelope, open_store
from hush.cli.bench_archive import bench_catch_up
from hush.cli.bench_pages import build_dataset
from hush.errors import UsageError
from hush.types import Topic


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


def test_page_dataset_builds_once_and_never_over_a_real_archive(tmp_path: Path) -> None:
    bench = str(tmp_path / "bench.sqlite")
    assert build_dataset(bench, 2000, 100) > 0
    assert build_dataset(bench, 2000, 100) == 0.0  # found, reused
    store = open_store(bench, None)
    try:
        assert store.count() == 2000
    finally:
        store.close()
    real = str(tmp_path / "archive.sqlite")
    store = open_store(real, None)
    try:
        store.put([ArchivedEnvelope(1000, bytes(32), Topic(b"\x01\x02\x03\x04"), 1050, b"\xc0")])
    finally:
        store.close()
    with pytest.raises(UsageError, match="holds 1 envelopes and no benchmark dataset"):
        build_dataset(real, 2000, 100)
    store = open_store(real, None)
    try:
        assert store.count() == 1  # untouched
    finally:
        store.close()
