"""`hush node`'s rate-limit flags and TOML keys reach NodeConfig; bad values are one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.node import run_node, settings_from
from hush.errors import UsageError
from hush.node.ratelimit_config import DEFAULT_BYTES, DEFAULT_PACKETS, Rate, RateLimitMode

MIB = 1024 * 1024


def test_defaults() -> None:
    settings = settings_from({}, None)
    assert settings.ratelimit is RateLimitMode.OBSERVE
    assert settings.ratelimit_packets == DEFAULT_PACKETS == Rate(50, 150)
    assert settings.ratelimit_bytes == DEFAULT_BYTES == Rate(MIB, 4 * MIB)
    assert settings.ratelimit_tolerance == 20
    assert settings.ratelimit_exempt == () and settings.ratelimit_exempt_loopback is True


def test_toml_keys_and_flags_over_them(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(
        'ratelimit = "enforce"\nratelimit-packets = "10:30"\nratelimit-bytes = [65536, 262144]\n'
        'ratelimit-tolerance = 5\nratelimit-exempt = ["192.0.2.1", "198.51.100.2"]\n'
        "ratelimit-exempt-loopback = false\n"
    )
    settings = settings_from({}, config)
    assert settings.ratelimit is RateLimitMode.ENFORCE
    assert settings.ratelimit_packets == Rate(10, 30)
    assert settings.ratelimit_bytes == Rate(65536, 262144)
    assert settings.ratelimit_tolerance == 5
    assert settings.ratelimit_exempt == ("192.0.2.1", "198.51.100.2")
    assert settings.ratelimit_exempt_loopback is False
    flags: dict[str, Any] = {
        "ratelimit": "off",
        "ratelimit_packets": "50",
        "ratelimit_bytes": "2MiB",
        "ratelimit_tolerance": 0,
        "ratelimit_exempt": ("203.0.113.9,203.0.113.10",),
        "ratelimit_exempt_loopback": True,
    }
    settings = settings_from(flags, config)
    assert settings.ratelimit is RateLimitMode.OFF
    assert settings.ratelimit_packets == Rate(50, 150)  # burst: 3 × rate when not given
    assert settings.ratelimit_bytes == Rate(2 * MIB, 8 * MIB)  # 4 × rate
    assert settings.ratelimit_tolerance == 0
    assert settings.ratelimit_exempt == ("203.0.113.9", "203.0.113.10")
    assert settings.ratelimit_exempt_loopback is True


@pytest.mark.parametrize(
    "line",
    [
        'ratelimit = "drop"',
        'ratelimit-packets = "0:10"',
        'ratelimit-packets = "fast"',
        "ratelimit-bytes = [1, 2, 3]",
        'ratelimit-tolerance = "many"',
    ],
)
def test_bad_toml_values(tmp_path: Path, line: str) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(line + "\n")
    with pytest.raises(UsageError):
        settings_from({}, config)


@pytest.mark.parametrize(
    "line",
    [
        'ratelimit-exempt = ["example.org"]',
        "ratelimit-exempt-loopback = 3",
        "ratelimit-tolerance = -2",
    ],
)
async def test_bad_values_refused_before_the_node_starts(tmp_path: Path, line: str) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(f'datadir = "{tmp_path}"\nlisten = "off"\n{line}\n')
    with pytest.raises(UsageError, match=r"ratelimit|rate limit"):
        await run_node(settings_from({}, config))


def test_bad_flags_are_one_line() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["node", "--ratelimit", "drop"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(main, ["node", "--ratelimit-packets", "-5"])
    assert result.exit_code == 1
    assert result.output.startswith("hush: error: invalid rate limit rate")
    result = runner.invoke(main, ["node", "--ratelimit-tolerance", "-1"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_readme_toml_example_is_accepted(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "hush.toml"
    config.write_text(example)
    settings = settings_from({}, config)
    assert settings.ratelimit is RateLimitMode.OBSERVE
    assert settings.ratelimit_packets == DEFAULT_PACKETS
    assert settings.ratelimit_bytes == DEFAULT_BYTES
