"""Request admission for the archive server, pure (archive.md §1.6, §1.7).

A request passes when its peer's token bucket (burst 20, one request a second) and its IP's
(burst 40, two a second) both hold a token, the peer has fewer than 2 requests queued or running, and
the global queue has room. A refusal is answered `ERROR=…` on 125, never a disconnect. Memory is
bounded: at most `max_tracked` peers and IPs each are remembered, least recently seen first out
(a forgotten key starts with a full bucket, which costs a flooder at most one burst).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from hush.node.ratelimit import TokenBucket
from hush.node.ratelimit_config import Rate

__all__ = ["IP_RATE", "PEER_RATE", "Admission", "AdmissionConfig"]


# archive.md §1.7 suggests burst 5 and one request per 2 s per peer; a day of 100 topics is ~10
# pages that a client asks for back to back, so the burst is 20 here (and 40 per IP).
PEER_RATE = Rate(1.0, 20.0)
IP_RATE = Rate(2.0, 40.0)


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    peer_rate: Rate = PEER_RATE
    """Requests per second and burst, per peer ID."""
    ip_rate: Rate = IP_RATE
    """Requests per second and burst, per IP."""
    per_peer: int = 2
    """Requests one peer may have queued or running at once."""
    queue_size: int = 256
    """Requests queued or running in all."""
    max_tracked: int = 10_000


class Admission:
    def __init__(self, config: AdmissionConfig | None = None):
        self.config = config or AdmissionConfig()
        self._peers: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._ips: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._active: dict[Hashable, int] = {}
        self.total = 0
        self.refused = 0

    def _bucket(
        self, table: OrderedDict[Hashable, TokenBucket], key: Hashable, rate: Rate, now: float
    ) -> TokenBucket:
        bucket = table.get(key)
        if bucket is None:
            bucket = TokenBucket(rate, now)
            table[key] = bucket
            if len(table) > self.config.max_tracked:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        return bucket

    def admit(self, peer: Hashable, ip: Hashable, now: float) -> str | None:
        """None and the request counted as active, or why it is refused."""
        config = self.config
        if self._active.get(peer, 0) >= config.per_peer:
            why: str | None = "too many concurrent requests"
        elif self.total >= config.queue_size:
            why = "server busy"
        else:
            peer_bucket = self._bucket(self._peers, peer, config.peer_rate, now)
            ip_bucket = self._bucket(self._ips, ip, config.ip_rate, now)
            if peer_bucket.level(now) < 1 or ip_bucket.level(now) < 1:
                why = "rate limit exceeded"
            else:
                peer_bucket.take(1, now)
                ip_bucket.take(1, now)
                why = None
        if why is not None:
            self.refused += 1
            return why
        self._active[peer] = self._active.get(peer, 0) + 1
        self.total += 1
        return None

    def done(self, peer: Hashable) -> None:
        """An admitted request finished (answered, refused late or abandoned)."""
        left = self._active.get(peer, 0) - 1
        if left > 0:
            self._active[peer] = left
        else:
            self._active.pop(peer, None)
        self.total = max(0, self.total - 1)
