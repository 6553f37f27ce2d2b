"""`hush bench …`: output shape and the helpers behind it (tiny durations)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hush.cli.bench import envelope_for_short_size, geth_shaped_rate
from hush.cli.main import main


@pytest.mark.parametrize("size", [13, 56, 100, 4096, 65536])
def test_envelope_for_short_size_is_exact(size: int) -> None:
    assert len(envelope_for_short_size(size).short_rlp()) == size


def test_bench_pow_json() -> None:
    result = CliRunner().invoke(
        main, ["bench", "pow", "--size", "100", "--seconds", "0.1", "--processes", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["size"] == 100
    assert len(info["nonces_per_s_per_process"]) == 1
    assert info["nonces_per_s"] > 0
    assert info["ratio_vs_geth_shaped"] == info["nonces_per_s"] / info["geth_shaped_nonces_per_s"]
    assert info["geth_1_9_7_one_core"] == 1.54e6


def test_bench_validate_and_open_json() -> None:
    result = CliRunner().invoke(main, ["bench", "validate", "--seconds", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["envelopes_per_s_per_core"] > 0
    result = CliRunner().invoke(main, ["bench", "open", "--seconds", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    rates = json.loads(result.stdout)["per_core_per_s"]
    assert set(rates) >= {"open_sym_right", "open_sym_wrong", "open_asym_right", "recover"}


def test_bench_rejects_impossible_size() -> None:
    result = CliRunner().invoke(main, ["bench", "pow", "--size", "5"])
    assert result.exit_code == 2


def test_geth_shaped_rate_is_positive() -> None:
    assert geth_shaped_rate(bytes(100), 0.02) > 0


def test_bench_relay_json() -> None:
    """A real relay node in a child process, 2 sinks: every envelope reaches both."""
    result = CliRunner().invoke(
        main, ["bench", "relay", "--envelopes", "300", "--peers", "2", "--batch", "64", "--json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert (info["envelopes"], info["peers"], info["loop"]) == (300, 2, "asyncio")
    assert info["envelopes_per_s"] > 0
    assert info["relay_cpu_s_per_1000"] > 0


def test_relay_envelopes_are_256_bytes_and_distinct() -> None:
    from hush.cli.bench_relay import relay_envelopes

    envelopes = relay_envelopes(50, 1_700_000_000)
    assert {len(raw) for raw in envelopes} == {256}
    assert len(set(envelopes)) == 50
