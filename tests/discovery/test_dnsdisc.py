"""EIP-1459 `enrtree://` lists with a fixture resolver (no DNS here): the EIP's URL example,
a signed tree synced and verified, and every way a tampered tree is refused."""

from __future__ import annotations

import base64

import pytest

from hush.crypto import PrivateKey, keccak256, public_key_from_bytes
from hush.discovery.dnsdisc import TreeURL, entry_hash, parse_root, parse_url, sync_tree
from hush.discovery.v4 import enr
from hush.errors import DecodeError, UsageError

# EIP-1459's example URL. (The EIP's prose names 0x049f8822…2b6 as its key, but the URL's
# base32 decodes to another valid compressed key, 0x033a5141…: only the URL is used here.)
EIP_URL = "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org"
SIGNER = PrivateKey(b"\x05" * 32)


def test_eip_url_example() -> None:
    url = parse_url(EIP_URL)
    assert url.domain == "nodes.example.org"
    assert len(url.public_key) == 33 and url.public_key[0] in (2, 3)
    assert str(url) == EIP_URL


def _zone(records: list[enr.Record], links: list[str], seq: int = 3) -> dict[str, list[str]]:
    """A signed tree: ENR leaves under a two-level branch, links under one branch."""
    zone: dict[str, list[str]] = {}

    def put(text: str) -> str:
        name = entry_hash(text)
        zone[f"{name.lower()}.nodes.example.org"] = [text]
        return name

    leaves = [put(r.text()) for r in records]
    halves = [
        put("enrtree-branch:" + ",".join(leaves[:2])),
        put("enrtree-branch:" + ",".join(leaves[2:])),
    ]
    enr_root = put("enrtree-branch:" + ",".join(halves))
    link_root = put("enrtree-branch:" + ",".join(put(link) for link in links))
    signed = f"enrtree-root:v1 e={enr_root} l={link_root} seq={seq}"
    sig = base64.urlsafe_b64encode(SIGNER.sign(keccak256(signed.encode()))).decode().rstrip("=")
    zone["nodes.example.org"] = ["v=spf1 -all", f"{signed} sig={sig}"]
    return zone


def _resolver(zone: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(name: str) -> list[str]:
        return zone.get(name, [])

    return resolve


RECORDS = [
    enr.make_record(PrivateKey(bytes([i]) * 32), 1, "10.0.0.1", 30303 + i, 30303)
    for i in range(1, 6)
]
URL = str(
    TreeURL(public_key_from_bytes(SIGNER.public_key).format(compressed=True), "nodes.example.org")
)


async def test_a_signed_tree_syncs() -> None:
    zone = _zone(RECORDS, [EIP_URL])
    root, records, links = await sync_tree(URL, _resolver(zone))
    assert root.seq == 3
    assert sorted(r.node_id for r in records) == sorted(r.node_id for r in RECORDS)
    assert [str(link) for link in links] == [EIP_URL]


async def test_a_root_signed_by_another_key_is_refused() -> None:
    zone = _zone(RECORDS, [])
    other = str(
        TreeURL(
            public_key_from_bytes(PrivateKey(b"\x06" * 32).public_key).format(compressed=True),
            "nodes.example.org",
        )
    )
    with pytest.raises(DecodeError, match="signature"):
        await sync_tree(other, _resolver(zone))


async def test_a_swapped_leaf_is_refused() -> None:
    zone = _zone(RECORDS, [])
    name = entry_hash(RECORDS[0].text()).lower() + ".nodes.example.org"
    zone[name] = [enr.make_record(PrivateKey(b"\x09" * 32), 1, "10.6.6.6", 30303).text()]
    with pytest.raises(DecodeError, match="no entry hashing"):
        await sync_tree(URL, _resolver(zone))


async def test_a_changed_root_breaks_its_signature() -> None:
    zone = _zone(RECORDS, [])
    zone["nodes.example.org"] = [t.replace("seq=3", "seq=4") for t in zone["nodes.example.org"]]
    with pytest.raises(DecodeError, match="signature"):
        await sync_tree(URL, _resolver(zone))


async def test_size_is_bounded() -> None:
    with pytest.raises(UsageError, match="max_entries"):
        await sync_tree(URL, _resolver(_zone(RECORDS, [])), max_entries=4)


@pytest.mark.parametrize(
    "text",
    [
        "enrtree-root:v2 e=A l=B seq=1 sig=x",
        "enrtree-root:v1 e=AAAAAAAAAA l=BBBBBBBBBB seq=x sig=y",
        "",
    ],
)
def test_malformed_roots(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_root(text)


@pytest.mark.parametrize(
    "url", ["enrtree://@x.org", "enr://AAAA@x.org", "enrtree://AAAA@x.org", "enrtree://AM5F"]
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(DecodeError):
        parse_url(url)
