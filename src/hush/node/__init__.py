"""The node: lifecycle, peers, relaying, keys; the facade applications use."""

from hush.node.config import NodeConfig
from hush.node.keystore import KeyStore
from hush.node.node import MailHandler, Node, PeerInfo, PostRequest, Subscription
from hush.node.relay import GETH_TICK, BroadcastPolicy, RelayPolicy

__all__ = [
    "GETH_TICK",
    "BroadcastPolicy",
    "KeyStore",
    "MailHandler",
    "Node",
    "NodeConfig",
    "PeerInfo",
    "PostRequest",
    "RelayPolicy",
    "Subscription",
]
