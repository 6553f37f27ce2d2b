"""The socket side of the connection gate (`hush.net.limits`): a slot per socket, for its lifetime.

`SlotStream` is the stream protocol of every gated connection, dialed or accepted: it takes its
slot with it from `connection_made` (so the gate can abort a connection still in the handshake at
its deadline) and gives it back in `connection_lost`, exactly once, however the socket ends.
`gate_for` builds the gate a `P2PConfig` asks for, its budget from the open-file limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from hush.net.config import P2PConfig
from hush.net.limits import ConnectionGate, Slot, connection_budget, open_file_limit

__all__ = ["SlotStream", "gate_for"]


class SlotStream(asyncio.StreamReaderProtocol):
    """A stream protocol holding a gate slot for exactly the socket's lifetime."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        gate: ConnectionGate,
        slot: Slot,
        on_accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Slot], None] | None = None,
    ) -> None:
        super().__init__(reader)
        self._reader = reader  # the base class keeps only a weak reference without a callback
        self._gate = gate
        self._slot = slot
        self._on_accept = on_accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._slot.abort = transport.abort  # type: ignore[attr-defined]
        if self._on_accept is not None:
            # a stream transport, though uvloop's doesn't subclass asyncio.Transport
            stream = cast(asyncio.Transport, transport)
            loop = asyncio.get_running_loop()
            writer = asyncio.StreamWriter(stream, self, self._reader, loop)
            self._on_accept(self._reader, writer, self._slot)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._gate.release(self._slot)


def gate_for(config: P2PConfig) -> ConnectionGate:
    """The connection gate `config` asks for; the budget comes from the open-file limit now."""
    budget = config.max_connections
    if budget is None:
        budget = connection_budget(open_file_limit())
    return ConnectionGate(
        max_pending_inbound=config.max_pending_inbound,
        max_inbound_per_ip=config.max_inbound_per_ip,
        inbound_throttle=config.inbound_throttle,
        exempt_lan=config.exempt_lan,
        max_connections=budget,
        evict_pending_after=config.evict_pending_after,
    )
