"""Answers are written as Go's encoding/json writes them (geth's RPC), byte for byte."""

from __future__ import annotations

import pytest

from hush.rpc.jsonrpc import encode, go_float


@pytest.mark.parametrize(
    ("value", "go"),
    [
        (0.2, "0.2"),
        (1.0, "1"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (0.00012254901960784314, "0.00012254901960784314"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (1.157920892373162e77, "1.157920892373162e+77"),
        (19.692307692307693, "19.692307692307693"),
        (5e-324, "5e-324"),
    ],
)
def test_floats_as_go_writes_them(value: float, go: str) -> None:
    assert go_float(value) == go
    assert float(go) == value


def test_strings_escape_html_and_keep_utf8() -> None:
    assert encode({"e": "<a&b>", "u": "é"}) == '{"e":"\\u003ca\\u0026b\\u003e","u":"é"}'.encode()
    assert encode([1, 2.5, True, None]) == b"[1,2.5,true,null]"
