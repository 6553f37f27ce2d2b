"""EIP-1459 node lists over DNS (`enrtree://`), read-only, with an injected TXT resolver.

    enrtree://<base32 compressed public key>@<domain>
    <domain>        TXT  enrtree-root:v1 e=<enr-root> l=<link-root> seq=<n> sig=<base64url>
    <hash>.<domain> TXT  enrtree-branch:<hash>,<hash>,…  |  enr:…  |  enrtree://…

The root's signature is 65 bytes over keccak256 of the root text without " sig=…", by the key
in the URL. Every other entry is named by its hash, base32 (no padding) of the first 16 bytes
of keccak256(text), and must hash to the name it was found under: that chains every record to
the signed root. ENR leaves verify their own signatures. Resolution is bounded (`max_entries`
TXT lookups per sync); a missing, malformed or mismatching entry is a `DecodeError`. hush needs
no DNS client for this: `resolve(name)` is passed in (tests use a dictionary of fixtures).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hush.crypto import keccak256, public_key_from_bytes, recover_public_key
from hush.crypto.keys import CURVE_ORDER
from hush.discovery.v4 import enr
from hush.errors import DecodeError, InvalidKeyError, UsageError

__all__ = [
    "Branch",
    "Link",
    "Root",
    "TreeURL",
    "TxtResolver",
    "entry_hash",
    "parse_entry",
    "parse_root",
    "parse_url",
    "sync_tree",
]

TxtResolver = Callable[[str], Awaitable[list[str]]]
"""The TXT strings at a DNS name (each record's strings already joined)."""

_HASH = re.compile(r"^[A-Z2-7]{10,32}$")
_ROOT = re.compile(
    r"^enrtree-root:v1 e=([A-Z2-7]+) l=([A-Z2-7]+) seq=(\d{1,19}) sig=([A-Za-z0-9_-]+)$"
)
_MAX_TXT = 4096


def _b32decode(text: str) -> bytes:
    try:
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"enrtree: {text!r} is not base32") from exc


def entry_hash(text: str) -> str:
    """The subdomain an entry lives at."""
    return base64.b32encode(keccak256(text.encode())[:16]).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class TreeURL:
    public_key: bytes
    """33-byte compressed key that signs the root."""
    domain: str

    def __str__(self) -> str:
        key = base64.b32encode(self.public_key).decode().rstrip("=")
        return f"enrtree://{key}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Root:
    enr_root: str
    link_root: str
    seq: int
    signature: bytes

    @property
    def signed_text(self) -> str:
        return f"enrtree-root:v1 e={self.enr_root} l={self.link_root} seq={self.seq}"

    def verify(self, public_key: bytes) -> None:
        if len(self.signature) != 65 or self.signature[64] > 1:
            raise DecodeError("enrtree: root signature must be 65 bytes r‖s‖v")
        if int.from_bytes(self.signature[32:64], "big") > CURVE_ORDER // 2:
            raise DecodeError("enrtree: root signature with high S")
        expected = public_key_from_bytes(public_key).format(compressed=False)
        digest = keccak256(self.signed_text.encode())
        if recover_public_key(self.signature, digest) != expected:
            raise DecodeError("enrtree: root signature does not match the list's key")


@dataclass(frozen=True, slots=True)
class Branch:
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Link:
    url: TreeURL


Entry = Branch | Link | enr.Record


def parse_url(url: str) -> TreeURL:
    if not url.startswith("enrtree://"):
        raise DecodeError("enrtree: URL must start with enrtree://")
    key_text, at, domain = url[len("enrtree://") :].partition("@")
    if not at or not domain or not key_text or len(url) > 300:
        raise DecodeError("enrtree: URL must be enrtree://<key>@<domain>")
    key = _b32decode(key_text)
    try:
        public_key_from_bytes(key)
    except InvalidKeyError as exc:
        raise DecodeError("enrtree: URL key is not a compressed secp256k1 key") from exc
    if len(key) != 33:
        raise DecodeError("enrtree: URL key must be a 33-byte compressed key")
    return TreeURL(key, domain.lower().rstrip("."))


def parse_root(text: str) -> Root:
    match = _ROOT.match(text.strip())
    if match is None:
        raise DecodeError("enrtree: malformed root entry")
    enr_root, link_root, seq, sig = match.groups()
    for name in (enr_root, link_root):
        if not _HASH.match(name):
            raise DecodeError(f"enrtree: invalid hash {name!r}")
    try:
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("enrtree: root signature is not base64") from exc
    return Root(enr_root, link_root, int(seq), signature)


def parse_entry(text: str) -> Entry:
    """A branch, link or ENR leaf (a root is `parse_root`'s)."""
    if len(text) > _MAX_TXT:
        raise DecodeError("enrtree: entry too long")
    if text.startswith("enrtree-branch:"):
        body = text[len("enrtree-branch:") :]
        children = tuple(h for h in body.split(",") if h) if body else ()
        for child in children:
            if not _HASH.match(child):
                raise DecodeError(f"enrtree: invalid hash {child!r} in branch")
        return Branch(children)
    if text.startswith("enrtree://"):
        return Link(parse_url(text))
    if text.startswith("enr:"):
        return enr.from_text(text)
    raise DecodeError("enrtree: unknown entry type")


@dataclass(slots=True)
class _Walk:
    domain: str
    resolve: TxtResolver
    budget: int
    records: list[enr.Record] = field(default_factory=list)
    links: list[TreeURL] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    async def txt(self, name: str) -> list[str]:
        if self.budget <= 0:
            raise UsageError("enrtree: tree larger than max_entries")
        self.budget -= 1
        return await self.resolve(name)

    async def entry(self, entry_name: str) -> Entry:
        for text in await self.txt(f"{entry_name.lower()}.{self.domain}"):
            if entry_hash(text) == entry_name.upper():
                return parse_entry(text)
        raise DecodeError(f"enrtree: no entry hashing to {entry_name}")

    async def walk(self, entry_name: str, leaves: str) -> None:
        pending = [entry_name]
        while pending:
            name = pending.pop()
            if name in self.seen:
                continue
            self.seen.add(name)
            entry = await self.entry(name)
            if isinstance(entry, Branch):
                pending.extend(reversed(entry.children))
            elif isinstance(entry, Link) and leaves == "link":
                self.links.append(entry.url)
            elif isinstance(entry, enr.Record) and leaves == "enr":
                self.records.append(entry)
            else:
                raise DecodeError(f"enrtree: a {type(entry).__name__} in the {leaves} tree")


async def sync_tree(
    url: str | TreeURL, resolve: TxtResolver, max_entries: int = 2048
) -> tuple[Root, list[enr.Record], list[TreeURL]]:
    """Fetch and verify a whole list: its root, ENR leaves and links (not followed)."""
    tree = parse_url(url) if isinstance(url, str) else url
    walk = _Walk(tree.domain, resolve, max_entries)
    roots = [t for t in await walk.txt(tree.domain) if t.startswith("enrtree-root:")]
    if not roots:
        raise DecodeError(f"enrtree: no root entry at {tree.domain}")
    root = parse_root(roots[0])
    root.verify(tree.public_key)
    await walk.walk(root.enr_root, "enr")
    await walk.walk(root.link_root, "link")
    return root, walk.records, walk.links
