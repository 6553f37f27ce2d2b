"""The peer source's pace is a NodeConfig setting, validated like the others."""

from __future__ import annotations

from typing import Any

import pytest

from hush.errors import UsageError
from hush.node import NodeConfig


@pytest.mark.parametrize(
    "settings",
    [
        {"source_interval": 0},
        {"source_interval": float("nan")},
        {"source_interval": 3601.0},
        {"source_interval": "5"},
        {"source_gap": 0},
        {"source_gap": -0.5},
        {"source_gap": True},
        {"source_interval": 1.0, "source_gap": 1.5},  # the gap is at most the interval
    ],
    ids=repr,
)
def test_bad_source_pace_is_refused(settings: dict[str, Any]) -> None:
    name = "source_gap" if "source_gap" in settings else "source_interval"
    with pytest.raises(UsageError, match=f"^invalid {name}: "):
        NodeConfig(datadir=None, **settings)


def test_source_pace_defaults_and_overrides() -> None:
    default = NodeConfig(datadir=None)
    assert (default.source_interval, default.source_gap) == (5.0, 0.5)
    fast = NodeConfig(datadir=None, source_interval=0.2, source_gap=0.2)
    assert (fast.source_interval, fast.source_gap) == (0.2, 0.2)
