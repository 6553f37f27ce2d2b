"""`hush node --stem on|off` and the TOML `stem` setting reach NodeConfig.stem (default on)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hush.cli.main import main
from hush.cli.node_settings import settings_from


def test_stem_is_on_by_default_and_off_by_flag_or_file(tmp_path: Path) -> None:
    assert settings_from({}, None).stem is True
    assert settings_from({"stem": "off"}, None).stem is False
    assert settings_from({"stem": "on"}, None).stem is True
    config = tmp_path / "hush.toml"
    config.write_text("stem = false\n")
    assert settings_from({}, config).stem is False
    assert settings_from({"stem": "on"}, config).stem is True  # the flag wins
    hops = settings_from({"stem": "hops"}, None)
    assert hops.stem is True and hops.stem_hops is True
    assert settings_from({}, None).stem_hops is False
    config.write_text("stem_hops = true\n")
    assert settings_from({}, config).stem_hops is True


def test_stem_flag_is_documented_and_checked() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["node", "--help"])
    assert result.exit_code == 0 and "--stem [on|off|hops]" in result.output
    result = runner.invoke(main, ["node", "--stem", "maybe"])
    assert result.exit_code == 2 and "maybe" in result.output
