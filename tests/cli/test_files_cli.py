"""`hush send-file` / `hush receive --save-dir` (wnode's file exchange) against a real node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_servers import LiveNode
from click.testing import CliRunner, Result

from hush.cli.files import envelope_size, largest_payload
from hush.cli.main import main
from hush.crypto import PrivateKey, SymmetricKey
from hush.shh.message import wrap
from hush.types import Topic

ROOM = "file room"


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("size", [0, 1, 200, 255, 256, 300, 65535, 65536, 70000])
def test_envelope_size_is_exact(size: int, signed: bool, asymmetric: bool) -> None:
    key = PrivateKey.generate(os.urandom)
    envelope = wrap(
        bytes(size),
        Topic(b"\x01\x02\x03\x04"),
        1000,
        os.urandom,
        sym_key=None if asymmetric else SymmetricKey(os.urandom(32)),
        public_key=key.public_key if asymmetric else None,
        signer=key if signed else None,
    )
    assert envelope.size() == envelope_size(size, signed=signed, asymmetric=asymmetric)


def test_largest_payload_fits_and_one_more_does_not() -> None:
    assert largest_payload(300, signed=False, asymmetric=False) == -1  # 304 bytes when empty
    for limit in (304, 1024, 1 << 20):
        largest = largest_payload(limit, signed=False, asymmetric=False)
        assert envelope_size(largest, signed=False, asymmetric=False) <= limit
        assert envelope_size(largest + 1, signed=False, asymmetric=False) > limit


@pytest.fixture
def live() -> Iterator[LiveNode]:
    node = LiveNode()
    yield node
    node.close()


def invoke(*argv: str) -> Result:
    result = CliRunner().invoke(main, list(argv), env={"HUSH_PASSWORD": ROOM})
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    return result


def spawn(*argv: str) -> subprocess.Popen[str]:
    """`hush ARGV` in its own process, for a command that runs while the test invokes another:
    two CliRunner calls on threads swap the same sys.stdout, so their output can mix."""
    return subprocess.Popen(
        [sys.executable, "-c", "from hush.cli.main import main; main()", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HUSH_PASSWORD": ROOM},
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=30)
    assert "Traceback" not in err, err
    return process.returncode, out, err


def test_send_and_receive_a_file(live: LiveNode, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sent = tmp_path / "photo.bin"
    sent.write_bytes(os.urandom(5000))
    argv = ["receive", "--rpc", live.url, "--save-dir", str(inbox), "--count", "1"]
    receiver = spawn(*argv, "--timeout", "20")
    deadline = time.monotonic() + 20
    while live.filters() == 0:
        assert receiver.poll() is None, receiver.communicate()
        assert time.monotonic() < deadline, "the receiver never installed its filter"
        time.sleep(0.02)
    posted = invoke("send-file", "--rpc", live.url, "--quiet", str(sent))
    assert posted.exit_code == 0, posted.output
    code, out, err = finished(receiver)
    assert code == 0, err
    saved = inbox / posted.stdout.strip().removeprefix("0x")
    assert saved.read_bytes() == sent.read_bytes()
    assert out.startswith(f"{saved} 5000 bytes from anonymous")
    assert (saved.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in inbox.iterdir()] == [saved.name]  # no partial file left


def test_oversized_file_is_refused_before_sealing(live: LiveNode, tmp_path: Path) -> None:
    async def shrink() -> None:
        assert live.node is not None
        live.node.set_max_message_size(2048)

    live.run(shrink())
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(4000))
    result = invoke("send-file", "--rpc", live.url, str(big))
    assert result.exit_code == 1
    largest = largest_payload(2048, signed=False, asymmetric=False)
    assert result.stderr == (
        f"hush: error: {big} is 4000 bytes; the node takes messages up to 2048 bytes, "
        f"which holds a file of at most {largest} bytes\n"
    )
    fits = tmp_path / "fits.bin"
    fits.write_bytes(bytes(largest))
    assert invoke("send-file", "--rpc", live.url, "--quiet", str(fits)).exit_code == 0


def test_watch_raw_prints_envelopes_that_envelope_decode_opens(tmp_path: Path) -> None:
    live = LiveNode(room=ROOM)  # the room filter proves the post went through the pool
    try:
        watcher = spawn("watch", "--rpc", live.url, "--raw", "--count", "1", "--timeout", "20")
        deadline = time.monotonic() + 20
        while live.filters() < 2:
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline, "the watcher never installed its filter"
            time.sleep(0.02)
        posted = invoke("post", "--rpc", live.url, "--quiet", "raw and real")
        assert posted.exit_code == 0, posted.output
        code, out, err = finished(watcher)
        assert code == 0, err
        room = tmp_path / "room"
        room.write_text(ROOM + "\n")
        raw = out.strip()
        decoded = invoke("envelope", "decode", raw, "--password-file", str(room), "--json")
        assert decoded.exit_code == 0, decoded.output
        info = json.loads(decoded.stdout)
        assert info["hash"] == posted.stdout.strip() and info["text"] == "raw and real"
    finally:
        live.close()


async def test_get_envelope_is_null_for_an_unknown_hash() -> None:
    from hush.node import Node, NodeConfig
    from hush.rpc import RpcServer
    from hush.rpc.jsonrpc import CallContext

    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as node:
        server = RpcServer(node)
        reply = await server.dispatcher.handle_body(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "hush_getEnvelope",
                    "params": ["0x" + "00" * 32],
                }
            ),
            CallContext(),
        )
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": None}
