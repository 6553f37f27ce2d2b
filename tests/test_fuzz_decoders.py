"""Random and mutated bytes into every decoder: only HushError subclasses may escape."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hush import rlp
from hush.cli.main import main
from hush.crypto.ecies import ecies_decrypt
from hush.crypto.keys import PrivateKey, public_key_from_bytes, recover_public_key
from hush.crypto.symmetric import SymmetricKey
from hush.errors import HushError
from hush.shh.envelope import Envelope
from hush.shh.message import parse_plaintext
from hush.shh.topic import topic_from_hex

SEEDS = [
    bytes.fromhex(vector["envelope_rlp"][2:])
    for vector in json.loads((Path(__file__).parent / "vectors" / "envelopes.json").read_text())[
        "vectors"
    ]
]
KEY = PrivateKey(b"\x22" * 32)
SYM = SymmetricKey(b"\x33" * 32)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A geth envelope or random bytes, with bytes flipped, cut, inserted or duplicated."""
    data = bytearray(draw(st.one_of(st.sampled_from(SEEDS), st.binary(max_size=300))))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "cut" and data:
            del data[position]
        elif action == "insert":
            data.insert(position, draw(st.integers(0, 255)))
        else:
            del data[position:]
    return bytes(data)


def only_hush_errors(function: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(HushError):
        function(data)


DECODERS: dict[str, Callable[[bytes], object]] = {
    "rlp.decode": rlp.decode,
    "rlp.decode_list": rlp.decode_list,
    "rlp.decode_prefix": rlp.decode_prefix,
    "rlp.decode_uint": lambda d: rlp.decode_uint(d[:9], 64),
    "Envelope.decode": Envelope.decode,
    "parse_plaintext": parse_plaintext,
    "ecies_decrypt": lambda d: ecies_decrypt(KEY, d),
    "SymmetricKey.open": SYM.open,
    "SymmetricKey": SymmetricKey,
    "PrivateKey": PrivateKey,
    "public_key_from_bytes": public_key_from_bytes,
    "recover_public_key": lambda d: recover_public_key(d[:65], d[65:97]),
    "topic_from_hex": lambda d: topic_from_hex(d.decode("latin-1")),
    "topic_from_hex(0x…)": lambda d: topic_from_hex("0x" + d.hex()[:10]),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), mutated())
def test_decoders_raise_only_hush_errors(name: str, data: bytes) -> None:
    only_hush_errors(DECODERS[name], data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_ecies_decrypt_of_well_formed_prefix(tail: bytes) -> None:
    # A valid ephemeral point makes the decrypter reach the MAC check and CTR step.
    data = PrivateKey(b"\x44" * 32).public_key + tail
    assert ecies_decrypt(KEY, data) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_plaintext_parser_after_valid_decryption(plain: bytes) -> None:
    # What a key holder can craft: any plaintext behind a valid AES-GCM tag.
    data = SYM.seal(plain, b"\x00" * 12)
    opened = SYM.open(data)
    assert opened == plain
    only_hush_errors(parse_plaintext, plain)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutated(),
    st.sampled_from(
        [[], ["--json"], ["--sym-key", "0x" + "33" * 32], ["--private-key", "22" * 32]]
    ),
    st.sampled_from(["hex", "0xhex", "spaced", "stdin", "garbage"]),
)
def test_cli_decode_never_tracebacks(data: bytes, options: list[str], form: str) -> None:
    text = {
        "hex": data.hex(),
        "0xhex": "0x" + data.hex(),
        "spaced": " ".join(data.hex()[i : i + 8] for i in range(0, len(data.hex()), 8)) or "0x",
        "stdin": "-",
        "garbage": data.decode("latin-1").replace("\x00", "") or "-x",
    }[form]
    result = CliRunner().invoke(main, ["envelope", "decode", text, *options], input=data.hex())
    assert result.exit_code in (0, 1, 2)
    assert isinstance(result.exception, SystemExit | None)
    if result.exit_code:
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
