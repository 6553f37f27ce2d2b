"""`hush node`'s pool, sealing and keystore settings: flags, TOML keys and the environment reach the
node; bad values are one line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.node import parse_size, run_node, settings_from
from hush.errors import UsageError

MIB = 1024 * 1024


def test_defaults_are_node_config_defaults() -> None:
    settings = settings_from({}, None)
    assert settings.pool_size == 256 * MIB
    assert settings.pool_peer_share == 0.25
    assert settings.max_pow_time == 60
    assert settings.seal_queue == 64


@pytest.mark.parametrize(
    ("text", "size"),
    [("268435456", 256 * MIB), ("256MiB", 256 * MIB), ("1.5GiB", 3 * 512 * MIB), ("500k", 500_000)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "", "12 parsecs", "1e999"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text)


def test_toml_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(
        'pool-size = "64MiB"\npool-peer-share = 0.5\nmax-pow-time = 10\nseal-queue = 8\n'
    )
    settings = settings_from({}, config)
    assert (settings.pool_size, settings.pool_peer_share) == (64 * MIB, 0.5)
    assert (settings.max_pow_time, settings.seal_queue) == (10, 8)
    settings = settings_from({"pool_size": "32MiB", "seal_queue": 2}, config)
    assert (settings.pool_size, settings.seal_queue) == (32 * MIB, 2)


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("pool-size = 0", "pool_bytes"),
        ("pool-peer-share = 1.5", "pool_peer_share"),
        ("max-pow-time = -1", "max_pow_time"),
        ("seal-queue = 0", "seal_queue"),
    ],
)
def test_bad_values_refused_at_start(tmp_path: Path, line: str, setting: str) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(f'datadir = "{tmp_path}"\nlisten = "off"\n{line}\n')
    with pytest.raises(UsageError, match=setting):
        asyncio.run(run_node(settings_from({}, config)))


def test_bad_flag_is_one_line() -> None:
    result = CliRunner().invoke(main, ["node", "--pool-size", "lots"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("hush: error: invalid size")


def test_keystore_passphrase_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hush.cli.node_run import _passphrase

    settings = settings_from({"keystore": True, "datadir": str(tmp_path)}, None)
    monkeypatch.delenv("HUSH_PASSPHRASE", raising=False)
    with pytest.raises(UsageError, match=r"--passphrase-file or \$HUSH_PASSPHRASE"):
        _passphrase(settings)  # no terminal under pytest: nothing to ask
    monkeypatch.setenv("HUSH_PASSPHRASE", "from the environment")
    assert _passphrase(settings) == "from the environment"
    secret = tmp_path / "pass"
    secret.write_text("from the file\n")
    with_file = settings_from({"passphrase_file": str(secret), "datadir": str(tmp_path)}, None)
    assert _passphrase(with_file) == "from the file"
