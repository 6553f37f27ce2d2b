"""enode URLs and the persistent node key (devp2p.md §1).

`enode://<128 hex pubkey64>@<IP literal>:<tcp port>[?discport=<udp port>]`. Like geth 1.8/1.9 we
require an IP literal (no DNS names), IPv6 in brackets; the UDP port defaults to the TCP port and
`discport` is written only when they differ. The key must be a point on secp256k1.

The node key is stored as 64 hex characters in `<datadir>/nodekey`, readable by its owner only.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from hush.crypto import PrivateKey, public_key_from_bytes
from hush.crypto.keccak import keccak256
from hush.errors import DecodeError, InvalidKeyError, UsageError
from hush.types import NodeID, RandomBytes

__all__ = ["NODE_KEY_FILE", "Enode", "host_port", "load_or_create_node_key", "short_id"]

NODE_KEY_FILE = "nodekey"


def short_id(node_id: bytes) -> str:
    """The one short form of a node id everywhere (logs, `hush info`, chat): geth's.

    geth's peer id is keccak256 of the 64-byte public key (`admin_peers[].id`); its logs show the
    first 8 bytes of that as hex. hush does the same, so a log line and `hush info` agree.
    """
    return keccak256(node_id)[:8].hex()


def host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets (`[::1]:30303`): the one form in logs, URLs
    and enodes."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _port(text: str, what: str) -> int:
    # ASCII digits only, as Go's strconv: str.isdigit() also takes '²' (int() then fails) and '٣'.
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 0xFFFF:
        raise DecodeError(f"enode: invalid {what} {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Enode:
    """A node's identity and TCP/UDP endpoint. `udp_port` None means "same as `tcp_port`"."""

    node_id: NodeID
    ip: str
    tcp_port: int
    udp_port: int | None = field(default=None)

    def __post_init__(self) -> None:
        if len(self.node_id) != 64:
            raise UsageError(f"enode: node id must be 64 bytes, got {len(self.node_id)}")
        try:
            ipaddress.ip_address(self.ip)
        except ValueError as exc:
            raise UsageError(f"enode: {self.ip!r} is not an IP address") from exc
        for port in (self.tcp_port, self.udp_port):
            if port is not None and not 0 <= port <= 0xFFFF:
                raise UsageError(f"enode: port {port} out of range")

    @property
    def discovery_port(self) -> int:
        return self.tcp_port if self.udp_port is None else self.udp_port

    @classmethod
    def parse(cls, url: str) -> Enode:
        """Parse an enode URL; raises DecodeError saying what is wrong."""
        try:
            parts = urllib.parse.urlsplit(url.strip())
            host, port_text = parts.hostname, parts.netloc.rpartition(":")[2]
        except ValueError as exc:
            raise DecodeError(f"enode: malformed URL: {exc}") from exc
        if parts.scheme != "enode":
            raise DecodeError(f"enode: scheme must be 'enode', got {parts.scheme!r}")
        key_hex = parts.username
        if key_hex is None:
            if not parts.netloc:
                raise DecodeError("enode: missing node id")
            raise DecodeError("enode: missing '@host:port' (incomplete nodes need discovery)")
        if len(key_hex) != 128:
            raise DecodeError(f"enode: node id must be 128 hex characters, got {len(key_hex)}")
        try:
            node_id = bytes.fromhex(key_hex)
        except ValueError as exc:
            raise DecodeError("enode: node id is not hex") from exc
        try:
            public_key_from_bytes(node_id)
        except InvalidKeyError as exc:
            raise DecodeError("enode: node id is not a point on secp256k1") from exc
        if not host:
            raise DecodeError("enode: missing host")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError as exc:
            raise DecodeError(f"enode: host must be an IP literal, not {host!r}") from exc
        host_port = parts.netloc.rpartition("@")[2]
        if ":" not in host_port.rpartition("]")[2]:
            raise DecodeError("enode: missing port")
        tcp_port = _port(port_text, "port")
        udp_port: int | None = None
        if parts.query:
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            if "discport" in query:
                udp_port = _port(query["discport"][-1], "discport")
        if parts.path not in ("", "/") or parts.fragment:
            raise DecodeError("enode: unexpected path or fragment")
        return cls(NodeID(node_id), str(ip), tcp_port, udp_port)

    def __str__(self) -> str:
        address = host_port(str(ipaddress.ip_address(self.ip)), self.tcp_port)
        url = f"enode://{self.node_id.hex()}@{address}"
        if self.udp_port is not None and self.udp_port != self.tcp_port:
            url += f"?discport={self.udp_port}"
        return url


def load_or_create_node_key(datadir: Path, random_bytes: RandomBytes) -> PrivateKey:
    """The node key from `<datadir>/nodekey` (hex text), created with mode 0600 if absent."""
    path = Path(datadir) / NODE_KEY_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = PrivateKey.generate(random_bytes)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL + 0600 at creation: the secret is never world-readable, not even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key.secret.hex())
        except OSError as exc:
            raise UsageError(
                f"cannot create node key {path} (data directory {path.parent}): "
                f"{exc.strerror or exc}"
            ) from exc
        return key
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read node key {path}: {exc}") from exc
    try:
        return PrivateKey(bytes.fromhex(text))
    except (ValueError, InvalidKeyError) as exc:
        raise UsageError(f"node key {path} is not a valid hex secp256k1 key") from exc
