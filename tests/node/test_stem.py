"""The stem core (`hush.node.stem`) under a fake clock: embargo, echo, epoch, peer loss, bounds."""

from __future__ import annotations

import math
import random

import pytest

from hush.errors import UsageError
from hush.node.stem import Stem, StemConfig
from hush.types import EnvelopeHash, NodeID

PEERS = [NodeID(bytes([i]) * 64) for i in range(8)]


def _hash(i: int) -> EnvelopeHash:
    return EnvelopeHash(i.to_bytes(32, "big"))


def _stem(seed: int = 1, **config: float) -> Stem:
    return Stem(random.Random(seed).randbytes, StemConfig(**config))  # type: ignore[arg-type]


def test_embargo_ends_at_its_timer_and_not_before() -> None:
    stem = _stem()
    peer = stem.stem_peer(PEERS, 100.0)
    assert peer in PEERS
    assert stem.post(_hash(1), peer, 100.0) == ()
    assert _hash(1) in stem
    due = stem.get_timer()
    assert due is not None and due > 100.0
    assert stem.handle_timer(due - 1e-6) == ()
    assert _hash(1) in stem
    assert stem.handle_timer(due) == (_hash(1),)
    assert _hash(1) not in stem and stem.get_timer() is None


def test_embargo_is_half_fixed_half_exponential_with_the_configured_mean() -> None:
    stem = _stem(seed=7, mean_embargo=2.0)
    draws = [stem.embargo() for _ in range(20_000)]
    mean = sum(draws) / len(draws)
    assert abs(mean - 2.0) < 0.03  # 3 standard errors of 1/sqrt(20000) ≈ 0.007, and then some
    median = sorted(draws)[len(draws) // 2]
    assert abs(median - (1.0 + math.log(2))) < 0.03  # 1 s + Exp(1 s), not Exp(2 s) (1.386)
    # Never shorter than half the mean: a short fail-safe floods before the stem peer relayed.
    assert max(draws) <= 20.0 and min(draws) >= 1.0
    assert sum(d < 1.1 for d in draws) / len(draws) == pytest.approx(1 - math.exp(-0.1), abs=0.01)
    # A mean given with the post (the multi-hop source's) is a plain exponential.
    given = [stem.embargo(2.0) for _ in range(20_000)]
    assert abs(sorted(given)[len(given) // 2] - 2.0 * math.log(2)) < 0.05 and min(given) < 0.1


def test_echo_releases_once() -> None:
    stem = _stem()
    peer = stem.stem_peer(PEERS, 0.0)
    assert peer is not None
    stem.post(_hash(1), peer, 0.0)
    stem.post(_hash(2), peer, 0.0)
    assert stem.echo(_hash(1)) is True
    assert stem.echo(_hash(1)) is False
    assert _hash(1) not in stem and _hash(2) in stem
    assert stem.echo(_hash(3)) is False  # not ours: nothing happens


def test_stem_peer_is_kept_for_the_epoch_then_redrawn() -> None:
    stem = _stem(seed=3, epoch=86_400.0)
    first = stem.stem_peer(PEERS, 0.0)
    for t in (1.0, 600.0, 3_600.0, 86_399.0):  # many posts, many minutes: the same peer
        assert stem.stem_peer(PEERS, t) == first
    draws = {stem.stem_peer(PEERS, 86_400.0 * k) for k in range(1, 40)}
    assert len(draws) > 1  # a new draw each epoch (8 peers, 39 draws: all equal is ~1e-34)


def test_stem_peer_is_uniform_over_all_peers() -> None:
    counts = {peer: 0 for peer in PEERS}
    stem = _stem(seed=11, epoch=1.0)
    for k in range(8_000):
        peer = stem.stem_peer(PEERS, float(k))
        assert peer is not None
        counts[peer] += 1
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 24.3  # χ²(7) at p = 0.001


def test_losing_the_stem_peer_releases_what_it_held_and_draws_another() -> None:
    stem = _stem(seed=5)
    peer = stem.stem_peer(PEERS, 0.0)
    assert peer is not None
    stem.post(_hash(1), peer, 0.0)
    other = next(p for p in PEERS if p != peer)
    assert stem.peer_lost(other) == ()  # another peer leaving changes nothing
    assert stem.peer == peer and _hash(1) in stem
    assert stem.peer_lost(peer) == (_hash(1),)
    assert stem.peer is None and len(stem) == 0
    rest = [p for p in PEERS if p != peer]
    assert stem.stem_peer(rest, 1.0) in rest


def test_stem_peer_gone_from_the_list_is_replaced() -> None:
    stem = _stem(seed=2)
    peer = stem.stem_peer(PEERS, 0.0)
    rest = [p for p in PEERS if p != peer]
    assert stem.stem_peer(rest, 1.0) in rest
    assert stem.stem_peer([], 2.0) is None and stem.peer is None


def test_the_embargo_table_is_bounded_oldest_first() -> None:
    stem = _stem(max_held=3)
    peer = PEERS[0]
    released = [stem.post(_hash(i), peer, float(i)) for i in range(5)]
    assert released == [(), (), (), (_hash(0),), (_hash(1),)]
    assert len(stem) == 3 and all(_hash(i) in stem for i in (2, 3, 4))
    assert stem.post(_hash(4), peer, 9.0) == ()  # re-posting a held one evicts nothing


def test_timers_release_in_deadline_order() -> None:
    stem = _stem(seed=9)
    peer = PEERS[0]
    for i in range(50):
        stem.post(_hash(i), peer, 0.0)
    released: list[EnvelopeHash] = []
    while (due := stem.get_timer()) is not None:
        out = stem.handle_timer(due)
        assert out
        released.extend(out)
    assert sorted(released) == sorted(_hash(i) for i in range(50))


@pytest.mark.parametrize(
    "config",
    [{"mean_embargo": 0.0}, {"mean_embargo": 61.0}, {"epoch": 0.0}, {"max_held": 0}],
)
def test_bad_settings_are_refused(config: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        StemConfig(**config)  # type: ignore[arg-type]


def test_a_post_may_carry_its_own_embargo_mean() -> None:
    """The multi-hop stem holds the source's post longer (HopsConfig.source_embargo)."""
    short, long = _stem(seed=4), _stem(seed=4)
    short.post(_hash(1), PEERS[0], 0.0, mean=2.0)
    long.post(_hash(1), PEERS[0], 0.0, mean=6.0)
    short_due, long_due = short.get_timer(), long.get_timer()
    assert short_due is not None and long_due is not None
    assert long_due == pytest.approx(3 * short_due)  # same draw, three times the mean


def test_a_post_may_carry_a_floor_under_its_embargo() -> None:
    """HopsConfig.source_floor: the multi-hop source holds its post at least that long."""
    plain, floored = _stem(seed=4), _stem(seed=4)
    plain.post(_hash(1), PEERS[0], 10.0, mean=0.2)
    floored.post(_hash(1), PEERS[0], 10.0, mean=0.2, floor=1.5)
    plain_due, floored_due = plain.get_timer(), floored.get_timer()
    assert plain_due is not None and floored_due is not None
    assert floored_due == pytest.approx(plain_due + 1.5)  # same draw, 1.5 s later
    assert floored.handle_timer(11.4) == () and floored.handle_timer(floored_due) == (_hash(1),)


def test_a_post_with_an_echo_delay_is_released_just_after_its_echo() -> None:
    """HopsConfig.echo_delay: the multi-hop source relays U(0, delay) s after the first echo."""
    stem = _stem(seed=5)
    stem.post(_hash(1), PEERS[0], 0.0, mean=0.2, floor=1.5, echo_delay=0.3)
    assert stem.echo(_hash(1), 0.4) is False and _hash(1) in stem
    due = stem.get_timer()
    assert due is not None and 0.4 <= due <= 0.7
    assert stem.echo(_hash(1), 0.5) is False and stem.get_timer() == due  # one echo counts
    assert stem.handle_timer(due) == (_hash(1),) and _hash(1) not in stem
    plain = _stem(seed=5)
    plain.post(_hash(2), PEERS[0], 0.0)
    assert plain.echo(_hash(2), 0.4) is True and _hash(2) not in plain  # one-hop: at once
