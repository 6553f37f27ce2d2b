"""The Grafana dashboard asks only for metrics the exporter emits (names checked on a live node)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from node.conftest import connect
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hush.metrics.server import LoopLag, metrics_registry

from .conftest import StatsNodeFactory

DASHBOARD = Path(__file__).parent.parent.parent / "deploy" / "grafana" / "hush.json"


async def test_every_dashboard_query_names_an_exported_metric(
    stats_node: StatsNodeFactory,
) -> None:
    node, stats = await stats_node()
    other, _ = await stats_node()
    await connect(node, other)  # packets and peer events carry samples once there is traffic
    archive = stats.archive  # so the labelled mail families carry samples too
    archive.request("raw", "ok", 0.01)
    archive.set_archived("sqlite", 1)
    archive.history("completed", 0.1)
    text = generate_latest(metrics_registry(node, stats, loop_lag=LoopLag())).decode()
    samples = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 25
    asked = {name for expr in exprs for name in re.findall(r"\b([a-z_]+)\{", expr)}
    assert asked, exprs
    missing = sorted(asked - samples)
    assert missing == []
