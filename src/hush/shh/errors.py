"""geth's whisperv6 error texts, written once (go-ethereum 1.9 whisper/whisperv6).

hush answers with geth's own words where a client or a peer's operator may compare them: the
envelope pool's rejections (whisper.go `add`, whisper-v6.md §3.6), `hush envelope decode`'s
verdicts, and the JSON-RPC errors of shh_post and shh_newMessageFilter/shh_subscribe (api.go).
The texts are data, not behaviour; the exceptions that carry them live in `hush.errors`.
"""

from __future__ import annotations

__all__ = [
    "ERR_BLOOM_MISMATCH",
    "ERR_FUTURE",
    "ERR_HUGE",
    "ERR_INVALID_PUBLIC_KEY",
    "ERR_LOW_POW",
    "ERR_MISSING_TOPIC",
    "ERR_POST_LOW_POW",
    "ERR_SYM_ASYM",
    "ERR_TOO_OLD",
]

ERR_FUTURE = "envelope created in the future"
"""whisper.go add: sent more than SYNC_ALLOWANCE seconds ahead of our clock."""
ERR_TOO_OLD = "very old message"
"""whisper.go add: expired more than 2 × SYNC_ALLOWANCE seconds ago."""
ERR_HUGE = "huge messages are not allowed"
"""whisper.go add (and api.go Post): larger than the node's max message size."""
ERR_LOW_POW = "envelope with low PoW received"
"""whisper.go add: below the minimum PoW (and the previous one's tolerance)."""
ERR_BLOOM_MISMATCH = "envelope does not match bloom filter"
"""whisper.go add: the topic's bloom is outside ours (and the previous one's tolerance)."""
ERR_POST_LOW_POW = "message rejected, PoW too low"
"""api.go Post: the sealed envelope's PoW is below the node's minimum."""
ERR_SYM_ASYM = "specify either a symmetric or an asymmetric key"
"""api.go Post and NewMessageFilter/Messages: neither or both key kinds given."""
ERR_MISSING_TOPIC = "missing topic(s)"
"""api.go Post and Messages: a symmetric key without a topic."""
ERR_INVALID_PUBLIC_KEY = "invalid public key"
"""api.go Post (recipient) and Messages (a private key id that is not one)."""
