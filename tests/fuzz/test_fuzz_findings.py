"""Regression tests for what fuzzing found (docs/fuzzing.md, "Findings"); each failed on the code
it was found in (a2e8920). The enode fix is this branch's; the three JSON-RPC ones were fixed on
main by the RPC limits work in the meantime, and these tests pin them for the fuzz corpus.

The crashing inputs are also kept in the corpus as `fuzz/corpus/<target>/finding-*`.
"""

from __future__ import annotations

import json

import pytest

from hush.enode import Enode
from hush.errors import DecodeError
from hush.node import Node, NodeConfig
from hush.rpc.api import ShhApi
from hush.rpc.jsonrpc import CallContext, Dispatcher, encode
from hush.rpc.params import ParamError, as_float

NODE_ID = "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877"


@pytest.mark.parametrize("port", ["30303²", "٣", "３0303", "30303?discport=²"])
def test_enode_port_takes_ascii_digits_only(port: str) -> None:
    # '²'.isdigit() is True and int('²') raises ValueError: a traceback from admin_addPeer/CLI.
    with pytest.raises(DecodeError, match="invalid"):
        Enode.parse(f"enode://{NODE_ID}@127.0.0.1:{port}")


def test_enode_ascii_port_still_parses() -> None:
    enode = Enode.parse(f"enode://{NODE_ID}@127.0.0.1:30303?discport=30301")
    assert (enode.tcp_port, enode.udp_port) == (30303, 30301)


async def _answer(body: bytes) -> dict[str, object]:
    node = Node(NodeConfig(listen=False, datadir=None, pow_processes=1))
    response = await Dispatcher(ShhApi(node).methods()).handle_body(body, CallContext())
    assert isinstance(response, dict)
    json.loads(encode(response))  # what the server writes must be writable
    return response


@pytest.mark.parametrize("body", [b"[" * 1001, b'{"a":' * 1001, b"[" * 5000])
async def test_too_deep_json_is_a_parse_error(body: bytes) -> None:
    # json.loads raised RecursionError, which escaped handle_body: HTTP 500 with a traceback.
    response = await _answer(body)
    assert response["error"]["code"] == -32700  # type: ignore[index]


@pytest.mark.parametrize(
    ("request_id", "answer"),
    [
        (b"1e400", b'{"jsonrpc":"2.0","id":1e400,"result":"6.0"}'),  # echoed verbatim, as geth
        (b"-1e400", b'{"jsonrpc":"2.0","id":-1e400,"result":"6.0"}'),
        (b"NaN", b'"id":null,"error":{"code":-32700'),  # not JSON
        (b"Infinity", b'"id":null,"error":{"code":-32700'),
    ],
)
async def test_non_finite_id_gets_a_writable_answer(request_id: bytes, answer: bytes) -> None:
    # The id was echoed as float inf/nan, which Go's encoder (and ours) cannot write: HTTP 500.
    node = Node(NodeConfig(listen=False, datadir=None, pow_processes=1))
    body = b'{"jsonrpc":"2.0","id":' + request_id + b',"method":"shh_version"}'
    response = await Dispatcher(ShhApi(node).methods()).handle_body(body, CallContext())
    assert answer in encode(response)


async def test_integer_beyond_float64_is_an_invalid_argument() -> None:
    # float(10**400) raised OverflowError inside the handler's decoding: -32603 internal error.
    body = b'{"jsonrpc":"2.0","id":1,"method":"shh_setMinPoW","params":[' + b"9" * 400 + b"]}"
    response = await _answer(body)
    error = response["error"]
    assert isinstance(error, dict) and error["code"] == -32602
    assert str(error["message"]).startswith("invalid argument 0: json: cannot unmarshal number")
    with pytest.raises(ParamError):
        as_float(10**400, "NewMessage.powTarget")
    assert as_float(2**1000) == float(2**1000)


async def test_lone_surrogate_in_a_method_name_gets_method_not_found() -> None:
    # Found by atheris on main's RPC code: "\ud800" decodes to a lone surrogate, the error message
    # echoing the name could not be UTF-8 encoded, and the answer became -32603 internal error.
    node = Node(NodeConfig(listen=False, datadir=None, pow_processes=1))
    body = b'{"jsonrpc":"2.0","id":"x","method":"shh_n\\ud800ewKeyPair"}'
    response = await Dispatcher(ShhApi(node).methods()).handle_body(body, CallContext())
    assert response["error"]["code"] == -32601
    assert "shh_n\ufffdewKeyPair".encode() in encode(response)
