"""Settings are refused at construction, in one line naming the setting (issue 7 item 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hush import CLIENT_ID
from hush.crypto import PrivateKey
from hush.errors import UsageError
from hush.net import P2PConfig
from hush.net.config import TIMEOUT_FIELDS
from hush.node import Node, NodeConfig

BAD_NODE_SETTINGS: list[tuple[str, Any]] = [
    ("min_pow", float("nan")),
    ("min_pow", float("inf")),
    ("min_pow", -1.0),
    ("min_pow", "0.2"),
    ("max_message_size", -5),
    ("max_message_size", 0),
    ("max_message_size", 10 * 1024 * 1024 + 1),
    ("max_message_size", 1.5),
    ("max_peers", -1),
    ("max_peers", True),
    ("max_pending_peers", 0),
    ("max_peers_per_ip", 0),
    ("pool_bytes", 0),
    ("send_interval", -0.1),
    ("send_interval", float("nan")),
    ("listen_port", 65536),
    ("listen_port", -1),
    ("listen_port", "30303"),
    ("listen_host", ""),
    ("listen_host", "127.0.0.1 "),
    ("listen", "yes"),
    ("light", 1),
    ("pow_processes", 0),
    ("client_id", ""),
    ("handshake_timeout", 0),
    ("read_timeout", float("nan")),
    ("write_timeout", -1.0),
    ("ping_interval", 25 * 3600.0),
    ("static_peers", ("enode://a",)),
    ("trusted_peers", "enode://a"),
    ("datadir", "/tmp/x"),
]


@pytest.mark.parametrize(("name", "value"), BAD_NODE_SETTINGS, ids=repr)
def test_bad_node_setting_is_refused(name: str, value: Any) -> None:
    with pytest.raises(UsageError, match=f"^invalid {name}") as info:
        NodeConfig(**{"datadir": None, name: value})
    assert "\n" not in str(info.value)


def test_good_node_settings_pass() -> None:
    NodeConfig(
        datadir=Path("/tmp/x"),
        listen_host="::",
        listen_port=0,
        max_peers=0,
        min_pow=0,
        max_message_size=10 * 1024 * 1024,
        send_interval=0,
        pow_processes=2,
    )


def test_p2p_settings_come_from_the_node_config() -> None:
    """NodeConfig carries the devp2p timeouts and the client id; the node hands them on."""
    defaults = NodeConfig(datadir=None)
    assert defaults.client_id == P2PConfig().client_id == CLIENT_ID
    for name in TIMEOUT_FIELDS:
        assert getattr(defaults, name) == getattr(P2PConfig(), name)
    config = NodeConfig(
        datadir=None,
        client_id="x/1",
        handshake_timeout=1.5,
        read_timeout=7.0,
        write_timeout=3.0,
        ping_interval=2.0,
    )
    p2p = Node(config, node_key=PrivateKey.generate(os.urandom)).p2p_config
    assert p2p.client_id == "x/1"
    assert [getattr(p2p, name) for name in TIMEOUT_FIELDS] == [1.5, 7.0, 3.0, 2.0]


BAD_P2P_SETTINGS: list[tuple[str, Any]] = [
    ("handshake_timeout", float("nan")),
    ("handshake_timeout", 0),
    ("read_timeout", float("inf")),
    ("ping_interval", -1),
    ("max_message_size", 0),
    ("max_message_size", 0x1000000),
    ("max_pending_inbound", 0),
    ("max_inbound_per_ip", 0),
    ("inbound_throttle", -1),
    ("exempt_lan", "no"),
    ("max_connections", 0),
    ("client_id", "x" * 600),
    ("capabilities", ()),
    ("capabilities", (("shh", 6),)),
    ("capabilities", (("shh", 6, 0),)),
]


@pytest.mark.parametrize(("name", "value"), BAD_P2P_SETTINGS, ids=repr)
def test_bad_p2p_setting_is_refused(name: str, value: Any) -> None:
    with pytest.raises(UsageError, match=r"^invalid "):
        P2PConfig(**{name: value})
