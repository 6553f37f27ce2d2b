"""Scenario loading errors (one line, typed) and `hush sim` through main(argv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hush.cli.main import main
from hush.errors import UsageError
from hush.sim.scenario import parse_scenario

QUICK = Path(__file__).parents[2] / "examples" / "sim" / "quick.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = [", "invalid scenario TOML"),
        ("colour = 1", "unknown key scenario.colour"),
        ("[topology]\nkind = 'torus'", "invalid topology.kind 'torus'"),
        ("[links]\nlatency = 'constant'\nseconds = -1", "invalid latency"),
        ("relay = 'fast'", "invalid relay 'fast'"),
        ("topology = 3", r"invalid \[topology\]"),
        ("[workload]\nmessages = 'many'", "invalid workload.messages"),
    ],
)
def test_scenario_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_scenario(text)
    assert "\n" not in str(caught.value)


def test_quick_example_loads() -> None:
    scenario = parse_scenario(QUICK.read_text())
    assert scenario.topology.nodes == 20 and scenario.relay == "geth"


def test_sim_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "run", str(QUICK), "--out", str(tmp_path), "--json"], standalone_mode=False)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["delivery_ratio"] == 1.0 and summary["posts"] == 20
    assert all(check["passed"] for check in summary["checks"])
    assert (tmp_path / "results.json").exists() and (tmp_path / "latency_cdf.png").exists()


def test_sim_run_bad_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[topology]\nnodes = 0\n")
    assert main(["sim", "run", str(bad)], standalone_mode=False) == 1
    err = capsys.readouterr().err
    assert err.startswith("hush: error: invalid topology.nodes") and err.count("\n") == 1
    assert main(["sim", "run", str(tmp_path / "missing.toml")], standalone_mode=False) == 1


def test_sim_darkness_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "sim",
        "darkness",
        "--nodes",
        "60",
        "--degree",
        "4",
        "--seeds",
        "2",
        "--policy",
        "sync",
        "--spies",
        "0.2",
        "--json",
    ]
    assert main(argv, standalone_mode=False) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    assert result["p"] == 0.2 and 0 < result["first_spy"]["mean"] <= 1
    assert "propagation engine" in report["engine"]
