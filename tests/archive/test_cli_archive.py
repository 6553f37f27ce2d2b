"""`hush node --archive`: flags and TOML reach the archive server, which archives and answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hush.archive.request import encode_raw_request
from hush.archive.store import ArchivedEnvelope, open_store
from hush.cli.node_run import archive_password, run_node
from hush.cli.node_settings import settings_from
from hush.errors import UsageError
from hush.shh.envelope import Envelope

from .helpers import PASSWORD, exchange, geth_envelopes, raw_peer, request_envelope


def test_archive_settings_from_flags_and_toml(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(
        'archive = true\narchive-db = "postgresql://x@/y"\narchive-max-size = "1MiB"\n'
    )
    settings = settings_from({"archive_password": "pw"}, config)
    assert settings.archive and settings.archive_db == "postgresql://x@/y"
    assert settings.archive_password == "pw"
    assert settings.archive_max_size == 1 << 20
    assert settings.archive_retention_days == 30.0
    assert not settings_from({"datadir": str(tmp_path)}, None).archive
    with pytest.raises(UsageError, match="invalid size"):
        settings_from({"archive_max_size": "lots"}, None)


def test_archive_password_from_a_file_the_environment_or_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUSH_ARCHIVE_PASSWORD", raising=False)
    assert archive_password(settings_from({}, None)) is None
    monkeypatch.setenv("HUSH_ARCHIVE_PASSWORD", "from env")
    assert archive_password(settings_from({}, None)) == "from env"
    assert archive_password(settings_from({"archive_password": "flag"}, None)) == "flag"
    secret = tmp_path / "inbox.txt"
    secret.write_text("from file\nsecond line\n")
    from_file = settings_from({"archive_password_file": str(secret)}, None)
    assert archive_password(from_file) == "from file"
    toml = tmp_path / "hush.toml"
    toml.write_text(f'archive = true\narchive-password-file = "{secret}"\n')
    assert archive_password(settings_from({}, toml)) == "from file"
    both = settings_from({"archive_password_file": str(secret), "archive_password": "x"}, None)
    with pytest.raises(UsageError, match="not both"):
        archive_password(both)
    with pytest.raises(UsageError, match="cannot read archive password file"):
        archive_password(settings_from({"archive_password_file": str(tmp_path / "no")}, None))


@pytest.mark.parametrize("source", ["flag", "file", "env"])
async def test_hush_node_archive_serves_requests(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    datadir = tmp_path / "data"
    store = open_store(None, datadir)  # the default place: archive.sqlite in the data directory
    envelopes = [Envelope.decode(raw) for raw in geth_envelopes()]
    store.put([ArchivedEnvelope.of(e) for e in envelopes])
    store.close()
    flags = {
        "datadir": str(datadir),
        "listen": "127.0.0.1:0",
        "archive": True,
        "archive_retention_days": 0.0,  # the vectors are a week old
    }
    monkeypatch.delenv("HUSH_ARCHIVE_PASSWORD", raising=False)
    if source == "flag":
        flags["archive_password"] = PASSWORD
    elif source == "file":
        (tmp_path / "inbox.txt").write_text(PASSWORD + "\n")
        flags["archive_password_file"] = str(tmp_path / "inbox.txt")
    else:
        monkeypatch.setenv("HUSH_ARCHIVE_PASSWORD", PASSWORD)
    stop = asyncio.Event()
    task = asyncio.create_task(run_node(settings_from(flags, None), stop))
    enode = ""
    async with asyncio.timeout(20):
        while not enode:
            await asyncio.sleep(0.02)
            out = capsys.readouterr().out
            enode = next((line[7:] for line in out.splitlines() if line.startswith("enode: ")), "")
    connection = await raw_peer(enode)
    lower = min(e.sent for e in envelopes)
    request = request_envelope(encode_raw_request(lower, 0xFFFFFFFF), int(time.time()))
    messages, _ = await exchange(connection, request.encode())
    assert sorted(messages) == sorted(e.encode() for e in envelopes)
    connection.close()
    stop.set()
    await task
