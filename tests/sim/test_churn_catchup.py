"""Churn with mail-server catch-up (hush.sim.catchup): a real archive server on one node, churning
nodes fetching what they missed with the real history client over the memory network.

Offline periods (20 s mean) are longer than the TTL (10 s), so what is posted while a node is
away expires from every pool before it is back: without catch-up some of it is lost for good;
with it, every (post, churning node) pair the server held and that was posted before the
node's last completed fetch is delivered (a node that goes offline again mid-fetch stops
fetching: tests/sim/test_catchup_interrupted.py). Seeded; the catch-up's completion is the client's own 125
signal (raw: its idle timeout, in virtual time), never a sleep.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from hush.errors import UsageError
from hush.sim.results import summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import (
    ArchiveSpec,
    ChurnSpec,
    LinksSpec,
    Scenario,
    TopologySpec,
    WorkloadSpec,
    parse_scenario,
)

CHURN = Path(__file__).parents[2] / "examples" / "sim" / "churn.toml"


def _scenario(catch_up: bool, mode: str = "direct") -> Scenario:
    return Scenario(
        name="churn-test",
        seed=6,
        duration=50.0,
        relay="push",
        topology=TopologySpec(kind="regular", nodes=12, degree=4),
        links=LinksSpec(latency="uniform", low=0.02, high=0.12),
        workload=WorkloadSpec(kind="gossip", messages=24, topics=2, publish_over=35.0, ttl=10),
        churn=ChurnSpec(0.4, online=6.0, offline=20.0, catch_up=catch_up),
        archive=ArchiveSpec(servers=1, mode=mode),
    )


def _run(scenario: Scenario) -> dict[str, Any]:
    numbers = summarise(run_scenario(scenario))
    assert numbers["catch_up"] is not None
    return numbers


def test_catch_up_delivers_all_the_server_held_and_churn_loses_without_it() -> None:
    without = _run(_scenario(catch_up=False))
    lost = without["catch_up"]
    assert lost["fetches"] == 0 and lost["held_pairs"] > 0
    assert lost["held_pairs_delivered_ratio"] < 1.0  # expired while away: gone without history

    numbers = _run(_scenario(catch_up=True))
    caught = numbers["catch_up"]
    assert caught["held_pairs"] == lost["held_pairs"]  # the same run until the fetches
    # Every held pair posted before its node's last completed fetch, and more than without.
    assert caught["held_pairs_fetched"] > 0 and caught["held_pairs_fetched_delivered_ratio"] == 1.0
    assert caught["held_pairs_delivered_ratio"] > lost["held_pairs_delivered_ratio"]
    # One node goes offline 0.26 s after it is back: its fetch stops (it misses 2 held pairs).
    assert caught["completed"] == caught["fetches"] - 1 > 0 and caught["interrupted"] == 1
    assert not caught["errors"]
    assert caught["envelopes"] > 0 and caught["bytes_envelopes_out"] > 0
    assert caught["bytes_requests_in"] > 0 and caught["bytes_completions_out"] > 0
    assert 0 < caught["latency_s"]["max"] < 2.0  # one dial and one page over 20-120 ms links
    assert (
        numbers["delivery_ratio_churning_nodes_ever"]
        > without["delivery_ratio_churning_nodes_ever"]
    )
    assert numbers["delivery_ratio_steady_nodes"] == without["delivery_ratio_steady_nodes"]


@pytest.mark.parametrize("mode", ["v2", "raw"])
def test_catch_up_in_the_sealed_and_the_wnode_dialects(mode: str) -> None:
    caught = _run(_scenario(catch_up=True, mode=mode))["catch_up"]
    assert caught["completed"] + caught["interrupted"] == caught["fetches"] > 0
    assert caught["completed"] > 0 and not caught["errors"]
    assert caught["held_pairs_fetched_delivered_ratio"] == 1.0


def test_archive_servers_never_churn() -> None:
    trace = run_scenario(dataclasses.replace(_scenario(catch_up=True), duration=20.0))
    assert len(trace.archive_servers) == 1
    churning = {node for _, node, _ in trace.churn}
    assert churning and not churning & set(trace.archive_servers)


def test_churn_example_loads() -> None:
    scenario = parse_scenario(CHURN.read_text())
    assert scenario.churn.catch_up and scenario.archive.servers == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[churn]\ncatch_up = true", r"churn.catch_up: needs an archive server"),
        ("[churn]\ncatch_up = 'yes'", "invalid churn.catch_up"),
        ("[archive]\nservers = 40", "invalid archive.servers 40: more than the 30 full nodes"),
        ("[archive]\nservers = -1", "invalid archive.servers"),
        ("[archive]\nmode = 'smtp'", "invalid archive.mode 'smtp'"),
        ("[archive]\noverlap = 1.5", "invalid archive.overlap"),
        ("[archive]\ntimeout = 0", "invalid archive.timeout"),
        ("[archive]\nserver = 1", "unknown key archive.server"),
    ],
)
def test_archive_knob_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_scenario(text)
    assert "\n" not in str(caught.value)
