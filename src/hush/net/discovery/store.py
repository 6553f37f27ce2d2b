"""What discovery keeps across restarts, in `<datadir>/discovery.json`.

The table's entries (to seed the next start without the bootnodes), the ENR sequence number and
endpoint it was signed for (a new endpoint gets seq + 1), and the dial policy's caches: nodes
found without shh (until when) and nodes that spoke shh (dialled first). Written atomically
(temporary file, then rename), mode 0600. A missing, unreadable or malformed file starts empty:
it is a cache. What is read is bounded (file size, entry counts), so a planted file can't grow
memory either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from hush.enode import Enode
from hush.errors import HushError

__all__ = ["STORE_FILE", "DiscoveryState", "load_state", "save_state"]

log = logging.getLogger(__name__)

STORE_FILE = "discovery.json"
_MAX_FILE = 2 * 1024 * 1024
_MAX_ENTRIES = 8192


@dataclass(slots=True)
class DiscoveryState:
    nodes: list[Enode] = field(default_factory=list)
    enr_seq: int = 0
    enr_endpoint: str = ""
    useless: dict[str, float] = field(default_factory=dict)
    """Hex node id → Unix time until which it is not dialled (no shh)."""
    shh: list[Enode] = field(default_factory=list)
    """Nodes that spoke shh, most recent first."""


def _enodes(value: object) -> list[Enode]:
    found: list[Enode] = []
    if isinstance(value, list):
        for text in value[:_MAX_ENTRIES]:
            if isinstance(text, str):
                with contextlib.suppress(HushError):
                    found.append(Enode.parse(text))
    return found


def load_state(datadir: Path | None) -> DiscoveryState:
    state = DiscoveryState()
    if datadir is None:
        return state
    path = Path(datadir) / STORE_FILE
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_FILE + 1)
        if len(raw) > _MAX_FILE:
            raise ValueError("file too large")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return state
    except (OSError, ValueError) as exc:
        log.warning("discovery: ignoring %s: %s", path, exc)
        return state
    state.nodes = _enodes(data.get("nodes"))
    state.shh = _enodes(data.get("shh"))
    seq = data.get("enr_seq")
    if isinstance(seq, int) and 0 <= seq < 2**64:
        state.enr_seq = seq
    endpoint = data.get("enr_endpoint")
    if isinstance(endpoint, str):
        state.enr_endpoint = endpoint[:200]
    useless = data.get("useless")
    if isinstance(useless, dict):
        for key, until in list(useless.items())[:_MAX_ENTRIES]:
            if isinstance(key, str) and len(key) == 128 and isinstance(until, int | float):
                state.useless[key] = float(until)
    return state


def save_state(datadir: Path | None, state: DiscoveryState) -> None:
    if datadir is None:
        return
    path = Path(datadir) / STORE_FILE
    data = {
        "nodes": [str(enode) for enode in state.nodes],
        "enr_seq": state.enr_seq,
        "enr_endpoint": state.enr_endpoint,
        "useless": state.useless,
        "shh": [str(enode) for enode in state.shh],
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("discovery: cannot save %s: %s", path, exc)
