"""enode URLs (devp2p.md §1) and the persistent node key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hush.crypto import PrivateKey
from hush.enode import Enode, load_or_create_node_key
from hush.errors import DecodeError, UsageError
from hush.types import NodeID

PUB_B = (
    "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f"
)


@pytest.mark.parametrize(
    ("url", "ip", "tcp", "udp"),
    [
        (f"enode://{PUB_B}@127.0.0.1:30303", "127.0.0.1", 30303, 30303),
        (f"enode://{PUB_B}@10.3.58.6:30303?discport=30301", "10.3.58.6", 30303, 30301),
        (f"enode://{PUB_B}@[::1]:30303", "::1", 30303, 30303),
        (f"enode://{PUB_B}@[2001:db8::1]:1?discport=0", "2001:db8::1", 1, 0),
    ],
)
def test_parse_and_format_round_trip(url: str, ip: str, tcp: int, udp: int) -> None:
    enode = Enode.parse(url)
    assert enode.node_id.hex() == PUB_B
    assert (enode.ip, enode.tcp_port, enode.discovery_port) == (ip, tcp, udp)
    assert str(enode) == url
    assert Enode.parse(str(enode)) == enode


def test_discport_equal_to_tcp_is_not_written() -> None:
    enode = Enode.parse(f"enode://{PUB_B}@1.2.3.4:5?discport=5")
    assert str(enode) == f"enode://{PUB_B}@1.2.3.4:5"
    assert str(Enode(NodeID(bytes.fromhex(PUB_B)), "::1", 7, 8)).endswith("@[::1]:7?discport=8")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"http://{PUB_B}@1.2.3.4:5", "scheme"),
        (f"enode://{PUB_B[:-2]}@1.2.3.4:5", "128 hex"),
        (f"enode://{PUB_B[:-2]}zz@1.2.3.4:5", "not hex"),
        (f"enode://{'00' * 64}@1.2.3.4:5", "not a point"),
        (f"enode://{PUB_B}", "missing '@host:port'"),
        (f"enode://{PUB_B}@:5", "missing host"),
        (f"enode://{PUB_B}@1.2.3.4", "missing port"),
        (f"enode://{PUB_B}@1.2.3.4:70000", "invalid port"),
        (f"enode://{PUB_B}@1.2.3.4:x", "invalid port"),
        (f"enode://{PUB_B}@1.2.3.4:5?discport=-1", "discport"),
        (f"enode://{PUB_B}@example.com:30303", "IP literal"),
        ("enode://", "missing node id"),
    ],
)
def test_parse_errors_are_clear(url: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        Enode.parse(url)


def test_constructor_validates() -> None:
    with pytest.raises(UsageError):
        Enode(NodeID(b"\x01" * 63), "1.2.3.4", 1)
    with pytest.raises(UsageError):
        Enode(NodeID(bytes.fromhex(PUB_B)), "localhost", 1)


def test_node_key_created_once_with_0600(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    key = load_or_create_node_key(datadir, os.urandom)
    path = datadir / "nodekey"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key.secret.hex()
    again = load_or_create_node_key(datadir, os.urandom)
    assert again == key


def test_node_key_geth_style_file_with_newline(tmp_path: Path) -> None:
    key = PrivateKey.generate(os.urandom)
    (tmp_path / "nodekey").write_text(key.secret.hex() + "\n")
    assert load_or_create_node_key(tmp_path, os.urandom) == key


def test_corrupt_node_key_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "nodekey").write_text("not hex")
    with pytest.raises(UsageError, match="nodekey"):
        load_or_create_node_key(tmp_path, os.urandom)
