"""Whisper v6 (shh/6), sans-IO (whisper-v6.md §1–§3).

`envelope` (the wire envelope, its hash and PoW), `message` (plaintext, signing and encryption:
geth's Wrap and Open), `pow` (the nonce search), `topic` (topics and blooms), `filters`
(matching opened messages), `pool` (geth's acceptance rules, time window and expiry), `packets`
(the shh/6 packet codecs), `peer` (one peer's protocol state) and `errors` (geth's error texts).
Time comes in as `now` and randomness as `random_bytes`; no sockets, clocks, logging or rlpx in
here (tests/test_layering.py keeps it so). Codec helpers stay in their modules.
"""

from hush.shh.envelope import ENVELOPE_HEADER_LENGTH, Envelope
from hush.shh.filters import Filter, FilterSet, Match
from hush.shh.message import DEFAULT_TTL, OpenedMessage, open_asymmetric, open_symmetric, wrap
from hush.shh.packets import PROTOCOL_LENGTH, PROTOCOL_NAME, PROTOCOL_VERSION, PacketCode, Status
from hush.shh.peer import (
    BloomChanged,
    DirectMessage,
    Envelopes,
    Ignored,
    MailRequest,
    PeerEvent,
    PowRequirementChanged,
    ShhPeer,
    StatusReceived,
)
from hush.shh.pool import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MIN_POW,
    MAX_MESSAGE_SIZE,
    SYNC_ALLOWANCE,
    AddOutcome,
    AddStatus,
    EnvelopePool,
    PooledEnvelope,
    Timing,
    envelope_timing,
)
from hush.shh.pow import NonceSearch, SearchResult, target_bits
from hush.shh.topic import (
    BLOOM_SIZE,
    TOPIC_LENGTH,
    aggregate_blooms,
    bloom_matches,
    topic_from_bytes,
    topic_from_hex,
    topic_to_bloom,
    topic_to_hex,
)

__all__ = [
    "BLOOM_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MIN_POW",
    "DEFAULT_TTL",
    "ENVELOPE_HEADER_LENGTH",
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_LENGTH",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "SYNC_ALLOWANCE",
    "TOPIC_LENGTH",
    "AddOutcome",
    "AddStatus",
    "BloomChanged",
    "DirectMessage",
    "Envelope",
    "EnvelopePool",
    "Envelopes",
    "Filter",
    "FilterSet",
    "Ignored",
    "MailRequest",
    "Match",
    "NonceSearch",
    "OpenedMessage",
    "PacketCode",
    "PeerEvent",
    "PooledEnvelope",
    "PowRequirementChanged",
    "SearchResult",
    "ShhPeer",
    "Status",
    "StatusReceived",
    "Timing",
    "aggregate_blooms",
    "bloom_matches",
    "envelope_timing",
    "open_asymmetric",
    "open_symmetric",
    "target_bits",
    "topic_from_bytes",
    "topic_from_hex",
    "topic_to_bloom",
    "topic_to_hex",
    "wrap",
]
