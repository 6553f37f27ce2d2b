"""`hush envelope decode` through main(argv), against geth 1.9.7 recordings."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hush.cli.envelope import describe
from hush.cli.main import main
from hush.crypto.symmetric import SymmetricKey
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.pool import AddStatus, EnvelopePool
from hush.types import Topic


def run(
    *argv: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(argv), input=stdin, env=env)
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, result.stdout, result.stderr


def key_options(vector: dict[str, Any]) -> list[str]:
    keys = vector["keys"]
    if "password" in keys:
        return ["--password", keys["password"]]
    if "symKey" in keys:
        return ["--sym-key", keys["symKey"]]
    return ["--private-key", keys["recipientPrivateKey"]]


def test_decode_json_equals_geths_message(geth_vector: dict[str, Any]) -> None:
    code, out, err = run(
        "envelope", "decode", geth_vector["envelope_rlp"], *key_options(geth_vector), "--json"
    )
    assert (code, err) == (0, "")
    info = json.loads(out)
    expected = dict(geth_vector["expected"])
    expected.pop("payload_sha256", None)
    for field, value in expected.items():
        assert info[field] == value, field
    assert ("sig" in info) == ("sig" in expected)
    assert ("recipientPublicKey" in info) == ("recipientPublicKey" in expected)
    assert info["opened"] is True
    assert info["expiry"] == geth_vector["envelope"]["expiry"]
    assert info["nonce"] == geth_vector["envelope"]["nonce"]


def test_decode_without_key_or_with_wrong_key(geth_vector: dict[str, Any]) -> None:
    """No key: the envelope, exit 0. A key that doesn't open it: the envelope, then exit 1."""
    raw = geth_vector["envelope_rlp"]
    for options in ([], ["--sym-key", "0x" + "07" * 32], ["--private-key", "07" * 32]):
        code, out, err = run("envelope", "decode", raw, *options, "--json")
        info = json.loads(out)
        assert code == (1 if options else 0)
        assert err == ("hush: error: the key does not open this envelope\n" if options else "")
        assert info["opened"] is False
        assert "payload" not in info
        assert info["hash"] == geth_vector["expected"]["hash"]
        assert info["pow"] == geth_vector["expected"]["pow"]


VECTOR_HEX = Envelope(1000, 50, Topic(b"\x01\x02\x03\x04"), b"hello", 7).encode().hex()


@pytest.mark.parametrize(
    "text",
    [VECTOR_HEX, "0x" + VECTOR_HEX, "  0X" + VECTOR_HEX.upper() + "\n", " ".join(VECTOR_HEX)],
)
def test_hex_forms_and_stdin(text: str) -> None:
    code, out, _ = run("envelope", "decode", text, "--json")
    assert code == 0
    assert json.loads(out)["nonce"] == 7
    code, out, _ = run("envelope", "decode", "-", "--json", stdin=text)
    assert code == 0
    assert json.loads(out)["topic"] == "0x01020304"


@pytest.mark.parametrize(
    ("now", "status", "verdict_start", "divisor"),
    [
        (960, "valid", "accepted", 50),
        (949, "future", "accepted", 50 + 2),  # sent 950 > now: geth's diff = sent - now + 1
        (939, "future", "rejected: envelope created", 50 + 12),
        (1001, "expired", "dropped", 50),
        (1021, "expired", "rejected: very old", 50),
    ],
)
def test_now_applies_geths_time_rules(
    now: int, status: str, verdict_start: str, divisor: int
) -> None:
    envelope = Envelope.decode(bytes.fromhex(VECTOR_HEX))
    code, out, _ = run("envelope", "decode", VECTOR_HEX, "--now", str(now), "--json")
    info = json.loads(out)
    assert code == 0
    assert info["status"] == status
    assert info["verdict"].startswith(verdict_start)
    assert info["pow"] == envelope.pow(divisor - 50)


def test_human_output_shows_the_fields() -> None:
    code, out, _ = run("envelope", "decode", VECTOR_HEX)
    assert code == 0
    for text in ("expiry", "1000", "0x01020304", "timestamp", "950", "opened", "false"):
        assert text in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["envelope", "decode", "zz"], 1, "not valid hex"),
        (["envelope", "decode", "0x"], 1, "no hex digits"),
        (["envelope", "decode", "abc"], 1, "not valid hex"),
        (["envelope", "decode", "c0"], 1, "expected 5 items"),
        (["envelope", "decode", VECTOR_HEX + "00"], 1, "trailing"),
        (["envelope", "decode", VECTOR_HEX, "--sym-key", "0x1234"], 1, "wrong key size"),
        (["envelope", "decode", VECTOR_HEX, "--sym-key", "0x" + "00" * 32], 1, "invalid"),
        (["envelope", "decode", VECTOR_HEX, "--private-key", "00" * 32], 1, "scalar"),
        (
            ["envelope", "decode", VECTOR_HEX, "--password", "a", "--sym-key", "0x" + "11" * 32],
            1,
            "at most one",
        ),
        (["envelope", "decode"], 2, "Missing argument"),
        (["envelope", "decode", VECTOR_HEX, "--now", "soon"], 2, "not a valid integer"),
        (["envelope", "frobnicate"], 2, "No such command"),
    ],
)
def test_malformed_input_is_one_line_on_stderr(argv: list[str], code: int, message: str) -> None:
    got_code, out, err = run(*argv)
    assert got_code == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hush: error:")
    assert message in err


def test_main_argv_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envelope", "decode", VECTOR_HEX, "--json"], standalone_mode=False) == 0
    assert json.loads(capsys.readouterr().out)["ttl"] == 50
    with pytest.raises(SystemExit) as exit_info:
        main(["envelope", "decode", "nothex"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith("hush: error:")


def test_help_lists_groups() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "envelope" in out
    assert "bench" in out


def test_decode_shows_utf8_text_and_validity_now_by_default(tmp_path: Path) -> None:
    room = SymmetricKey.from_password("room")
    sealed = wrap(b"hello \xe2\x9c\x93", Topic(b"\x01\x02\x03\x04"), int(time.time()), os.urandom,
                  ttl=60, sym_key=room)  # fmt: skip
    raw = sealed.encode().hex()
    key_file = tmp_path / "room.key"
    key_file.write_text("0x" + room.secret.hex() + "\n")
    code, out, err = run("envelope", "decode", raw, "--sym-key-file", str(key_file), "--json")
    assert (code, err) == (0, "")
    info = json.loads(out)
    assert info["text"] == "hello ✓" and info["status"] == "valid"
    assert abs(info["now"] - time.time()) < 60
    password = tmp_path / "password"
    password.write_text("room\n")
    code, out, _ = run("envelope", "decode", raw, "--password-file", str(password))
    assert code == 0 and "hello ✓" in out and "valid" in out
    password.write_text("other\n")
    code, out, err = run("envelope", "decode", raw, "--password-file", str(password))
    assert code == 1 and "does not open" in err


@pytest.mark.parametrize("now", [*range(938, 942), *range(948, 952), *range(999, 1003), 1020, 1021])
def test_decode_verdict_is_the_pools_at_every_edge(now: int) -> None:
    """`envelope decode --now` and the pool share one time window: same verdict, same reason."""
    envelope = Envelope.decode(bytes.fromhex(VECTOR_HEX))
    verdict = describe(envelope, now=now)["verdict"]
    outcome = EnvelopePool(min_pow=0).add(envelope, now)
    if outcome.status is AddStatus.REJECTED:
        assert verdict == f"rejected: {outcome.reason}"
    elif outcome.status is AddStatus.EXPIRED:
        assert verdict == "dropped silently (expired)"
    else:
        assert outcome.status is AddStatus.ACCEPTED
        assert verdict.startswith("accepted")
