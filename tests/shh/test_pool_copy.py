"""`EnvelopePool.pooled_copy`: a copy of a pooled envelope is judged on its hash first, with the
verdict `add` would give (issue 9: a relaying node gets most envelopes five or six times)."""

from __future__ import annotations

import random

from hush.shh.envelope import Envelope
from hush.shh.pool import AddStatus, EnvelopePool
from hush.shh.topic import topic_to_bloom
from hush.types import Topic

NOW = 1_700_000_000
TOPICS = [Topic(bytes([i, 2 * i, 3 * i, i ^ 5])) for i in range(1, 5)]


def _envelopes(rng: random.Random, count: int) -> list[Envelope]:
    return [
        Envelope(
            expiry=NOW + rng.randrange(-30, 60),
            ttl=rng.choice((5, 30, 50)),
            topic=rng.choice(TOPICS),
            data=rng.randbytes(rng.randrange(1, 300)),
            nonce=rng.getrandbits(64),
        )
        for _ in range(count)
    ]


def test_a_pooled_copy_is_a_duplicate_and_only_then() -> None:
    rng = random.Random(7)
    checked = found = 0
    for _ in range(40):
        envelopes = _envelopes(rng, 30)
        pool = EnvelopePool(min_pow=0.0)
        for envelope in envelopes:
            pool.add(envelope, NOW - 15)  # pooled earlier, some from "the future" then
        pows = sorted(e.pow() for e in envelopes)
        # the settings change under the pooled envelopes: PoW, bloom, size; time moves on
        now = NOW + rng.choice((-20, -12, -5, 0, 3, 40, 70))
        if rng.random() < 0.5:
            pool.set_min_pow(rng.choice(pows), now - rng.choice((0, 5, 20)))
        if rng.random() < 0.5:
            bloom = topic_to_bloom(rng.choice(TOPICS))
            pool.set_bloom(bloom, now - rng.choice((0, 5, 20)))
        if rng.random() < 0.3:
            pool.max_message_size = rng.randrange(20, 320)
        for envelope in envelopes:
            copy = Envelope.decode(envelope.encode())  # as it comes off the wire
            entry = pool.pooled_copy(copy, now)
            in_flux = pool._min_pow.switch_at is not None or pool._bloom.switch_at is not None
            outcome = pool.add(copy, now)
            checked += 1
            if entry is not None:
                found += 1
                assert outcome.status is AddStatus.DUPLICATE and outcome.entry is entry
            elif envelope.hash in pool and outcome.status is AddStatus.DUPLICATE:
                # left to `add`: sent ahead of now, or a setting inside its tolerance spell
                assert envelope.sent > now or in_flux
    assert checked == 1200 and 50 < found < checked  # both verdicts occur


def test_every_pooled_envelope_is_found_while_nothing_changes() -> None:
    pool = EnvelopePool(min_pow=0.0)
    envelopes = [e for e in _envelopes(random.Random(3), 200) if e.expiry >= NOW and e.sent <= NOW]
    for envelope in envelopes:
        assert pool.add(envelope, NOW).status is AddStatus.ACCEPTED
    for envelope in envelopes:
        entry = pool.pooled_copy(Envelope.decode(envelope.encode()), NOW)
        assert entry is not None and entry.hash == envelope.hash
    stranger = _envelopes(random.Random(4), 1)[0]
    assert pool.pooled_copy(stranger, NOW) is None
