"""Fleet files: a deployment's nodes in Status's shape (discovery.md §3.2, §3.3).

    {"boot": [enode, …], "static": [enode, …], "mail": [enode, …]}

Each list may also be an object of name → enode, as Status's `fleet-*.json` name their nodes.
`boot` seeds discovery, `static` are always kept, `mail` are mail servers (kept as static and
trusted peers). Unknown keys are ignored; a malformed enode is an error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hush.enode import Enode
from hush.errors import DecodeError, UsageError

__all__ = ["Fleet", "load_fleet", "parse_fleet"]

_MAX_FILE = 1024 * 1024
_MAX_NODES = 1024


@dataclass(frozen=True, slots=True)
class Fleet:
    boot: tuple[Enode, ...] = ()
    static: tuple[Enode, ...] = ()
    mail: tuple[Enode, ...] = ()


def _list(data: dict[str, object], key: str) -> tuple[Enode, ...]:
    value = data.get(key, [])
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or len(value) > _MAX_NODES:
        raise UsageError(
            f"fleet: {key!r} must be a list (or object) of at most {_MAX_NODES} enodes"
        )
    nodes = []
    for url in value:
        if not isinstance(url, str):
            raise UsageError(f"fleet: {key!r} holds a non-string")
        try:
            nodes.append(Enode.parse(url))
        except DecodeError as exc:
            raise UsageError(f"fleet: {key!r}: {exc}") from exc
    return tuple(nodes)


def parse_fleet(text: str) -> Fleet:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"fleet: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError("fleet: must be a JSON object {boot, static, mail}")
    return Fleet(_list(data, "boot"), _list(data, "static"), _list(data, "mail"))


def load_fleet(path: Path) -> Fleet:
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(_MAX_FILE + 1)
    except OSError as exc:
        raise UsageError(f"cannot read fleet file {path}: {exc.strerror or exc}") from exc
    if len(raw) > _MAX_FILE:
        raise UsageError(f"fleet file {path} is larger than {_MAX_FILE} bytes")
    try:
        return parse_fleet(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"fleet file {path} is not UTF-8") from exc
