"""Posting: a local message from request to pool (or to one peer directly), geth's shh_post.

`Poster.post` checks the request in geth's order, wraps (encrypts, signs, pads) the message at
the injected clock's wall time, seals it on the injected sealer and adds it to the pool through
the pool keeper (or sends it as a direct message, code 127). Keys come from the injected key
store; the sealer's time budget reads the node's monotonic clock. One direction of flow: facade →
posting → pool keeper (or → a session for a direct message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from hush.clock import Clock
from hush.crypto.keys import public_key_from_bytes
from hush.errors import InvalidKeyError, UsageError
from hush.node.hooks import NodeObserver
from hush.node.keystore import KeyStore
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.sealer import EnvelopeSealer
from hush.shh.envelope import Envelope
from hush.shh.errors import (
    ERR_HUGE,
    ERR_INVALID_PUBLIC_KEY,
    ERR_MISSING_TOPIC,
    ERR_POST_LOW_POW,
    ERR_SYM_ASYM,
)
from hush.shh.hygiene import DEFAULT_SENT_SPREAD, bucket_padding, spread_sent
from hush.shh.message import DEFAULT_TTL, wrap
from hush.shh.pool import MAX_MESSAGE_SIZE, AddStatus, PooledEnvelope
from hush.types import EnvelopeHash, RandomBytes, Topic

__all__ = ["PostRequest", "Poster"]

_ZERO_TOPIC = Topic(bytes(4))


@dataclass(frozen=True, slots=True)
class PostRequest:
    """A message to post: geth's NewMessage (shh_post), in Python types."""

    payload: bytes = b""
    topic: Topic = _ZERO_TOPIC
    sym_key_id: str | None = None
    public_key: bytes | None = None
    """The recipient's 65-byte public key (asymmetric encryption)."""
    signer_id: str | None = None
    """Id of a local key pair that signs the message."""
    ttl: int = DEFAULT_TTL
    padding: bytes | None = None
    """None or empty: random padding to the node's bucket (a multiple of 256 bytes, as geth,
    by default) or to `pad_to`."""
    pad_to: int | None = None
    """Pad the plaintext to exactly this many bytes (one size per topic hides lengths)."""
    pow_time: float = 5.0
    pow_target: float = 0.2
    target_peer: str | None = None
    """enode URL of a connected peer: send directly (code 127) instead of into the pool."""


class Poster:
    def __init__(
        self,
        *,
        keys: Callable[[], KeyStore],
        sealer: EnvelopeSealer,
        keeper: PoolKeeper,
        clock: Clock,
        random_bytes: RandomBytes,
        observers: NodeObserver,
        find_peer: Callable[[str], LivePeer],
        send_direct: Callable[[LivePeer, Envelope], Awaitable[None]],
        stem: Callable[[PooledEnvelope], Awaitable[object]] | None = None,
        sent_spread: int = DEFAULT_SENT_SPREAD,
        padding_bucket: int = 256,
    ) -> None:
        self._keys = keys
        self.sealer = sealer
        self._keeper = keeper
        self.clock = clock
        self._random_bytes = random_bytes
        self._observers = observers
        self._find_peer = find_peer
        self._send_direct = send_direct
        self.stem = stem
        self.sent_spread = sent_spread
        """`sent` moves up to this many seconds into the past, the TTL kept (hygiene)."""
        self.padding_bucket = padding_bucket
        """Sends a freshly pooled post down the stem (None: it floods, as geth)."""

    async def post(self, request: PostRequest, requester: Hashable = None) -> EnvelopeHash:
        """Encrypt, sign, seal and send a message; returns the envelope hash (geth's shh_post).

        geth's checks and errors, in its order, except that what geth would refuse only after
        mining is refused before: a pool post below the node's min PoW (negative targets included),
        a message over the max message size, and a target that can't be reached in `pow_time`;
        `pow_time` itself is capped by the sealer's max work time. Posts of one `requester` (an RPC
        connection, say) share one turn of the sealer's round-robin. Cancelling stops the sealing.
        """
        pool = self._keeper.pool
        keys = self._keys()
        if (request.sym_key_id is None) == (request.public_key is None):
            raise UsageError(ERR_SYM_ASYM)
        signer = keys.private_key(request.signer_id) if request.signer_id else None
        sym_key = None
        if request.sym_key_id is not None:
            if not any(request.topic):
                raise UsageError(ERR_MISSING_TOPIC)
            sym_key = keys.sym_key(request.sym_key_id)
        else:
            try:
                public_key_from_bytes(request.public_key or b"")
            except InvalidKeyError as exc:
                raise UsageError(ERR_INVALID_PUBLIC_KEY) from exc
            if len(request.public_key or b"") != 65:
                raise UsageError(ERR_INVALID_PUBLIC_KEY)
        self.sealer.check(request.pow_target, request.pow_time)
        to_pool = not request.target_peer
        if request.target_peer:
            self._find_peer(request.target_peer)  # its errors before the work, not after
        elif request.pow_target < pool.min_pow:
            raise UsageError(ERR_POST_LOW_POW)  # geth says so after mining
        padding = request.padding or None
        if padding is None and (request.pad_to is not None or self.padding_bucket != 256):
            padding = bucket_padding(
                len(request.payload),
                signer is not None,
                self._random_bytes,
                bucket=self.padding_bucket,
                pad_to=request.pad_to,
            )
        plain_size = len(request.payload) + len(padding or b"")
        if plain_size > (pool.max_message_size if to_pool else MAX_MESSAGE_SIZE):
            raise UsageError(ERR_HUGE)
        sent, ttl = spread_sent(
            self._keeper.now(), request.ttl or DEFAULT_TTL, self.sent_spread, self._random_bytes
        )
        envelope = wrap(
            request.payload,
            request.topic,
            sent,
            self._random_bytes,
            ttl=ttl,
            sym_key=sym_key,
            public_key=request.public_key,
            padding=padding,
            signer=signer,
        )
        if to_pool and envelope.size() > pool.max_message_size:
            raise UsageError(ERR_HUGE)
        sealed = await self.seal(envelope, request.pow_target, request.pow_time, requester)
        if request.target_peer:
            await self.send_direct(request.target_peer, sealed)
            return sealed.hash
        outcome = self._keeper.add(sealed, local=True)
        if outcome.status is AddStatus.EXPIRED:
            raise UsageError("failed to add envelope")
        if not outcome.known:
            raise UsageError(outcome.reason)
        if self.stem is not None and outcome.status is AddStatus.ACCEPTED and outcome.entry:
            await self.stem(outcome.entry)  # no await before: its embargo precedes any relay
        return sealed.hash

    async def seal(
        self, envelope: Envelope, pow_target: float, work_time: float, requester: Hashable
    ) -> Envelope:
        """Seal on the sealer (its workers, never the default executor); cancelling stops it."""
        started = self.clock.monotonic()
        future = self.sealer.submit(envelope, pow_target, work_time, requester)
        sealed = await asyncio.wrap_future(future)
        self._observers.envelope_sealed(self.clock.monotonic() - started, pow_target)
        return sealed

    async def send_direct(self, target_peer: str, envelope: Envelope) -> None:
        """Send an envelope to one connected peer as a direct message (code 127)."""
        await self._send_direct(self._find_peer(target_peer), envelope)
