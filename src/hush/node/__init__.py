"""The node: lifecycle, peers, relaying, keys; the facade applications use."""

from hush.node.config import NodeConfig
from hush.node.delivery import Subscription
from hush.node.keystore import KeyStore
from hush.node.node import MailHandler, Node, NodeStatus
from hush.node.posting import PostRequest
from hush.node.registry import PeerInfo
from hush.node.relay import GETH_TICK, BroadcastPolicy, RelayPolicy

__all__ = [
    "GETH_TICK",
    "BroadcastPolicy",
    "KeyStore",
    "MailHandler",
    "Node",
    "NodeConfig",
    "NodeStatus",
    "PeerInfo",
    "PostRequest",
    "RelayPolicy",
    "Subscription",
]
