"""The node: lifecycle, peers, relaying, keys; the facade applications use."""

from hush.node.config import NodeConfig
from hush.node.keystore import KeyStore
from hush.node.node import MailHandler, Node, PeerInfo, PostRequest, Subscription
from hush.node.relay import BroadcastPolicy, RelayPolicy

__all__ = [
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
