"""The pure rate limiter (hardening.md §2.3), driven by a fake clock: no event loop, no sockets."""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest

from hush.crypto import PrivateKey
from hush.errors import UsageError
from hush.node import NodeConfig
from hush.node.ratelimit import Action, RateLimiter, Scope, TokenBucket, Unit, Verdict, _KeyState
from hush.node.ratelimit_config import (
    Rate,
    RateLimitConfig,
    RateLimitMode,
    ip_scope,
    parse_rate,
    rate_limit_config,
)

ALICE, BOB, CAROL = b"\x01" * 64, b"\x02" * 64, b"\x03" * 64
MIB = 1024 * 1024


def limiter(mode: RateLimitMode = RateLimitMode.ENFORCE, **changes: object) -> RateLimiter:
    settings: dict[str, object] = {
        "mode": mode,
        "packet_rate": Rate(10, 5),
        "byte_rate": Rate(1000, 4000),
        "tolerance": 3,
        "exempt_loopback": False,
    }
    settings.update(changes)
    return RateLimiter(RateLimitConfig(**settings))  # type: ignore[arg-type]


def burst(
    rl: RateLimiter,
    n: int,
    now: float,
    peer: bytes = ALICE,
    host: str = "192.0.2.1",
    exempt: bool = False,
) -> list[Action | None]:
    return [rl.check(peer, host, 10, now, exempt=exempt).action for _ in range(n)]


def test_token_bucket_burst_refill_and_cap() -> None:
    bucket = TokenBucket(Rate(2, 3), now=100.0)
    assert [bucket.take(1, 100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(1, 100.4)  # 0.8 tokens
    assert bucket.take(1, 100.5)
    assert bucket.level(200.0) == 3  # never more than the burst
    assert bucket.take(50, 200.0)  # above the burst: costs the full burst, passes when full
    assert bucket.level(200.0) == 0 and not bucket.take(50, 201.0)
    assert bucket.full(201.5)


def test_token_bucket_clock_going_back_refills_nothing() -> None:
    bucket = TokenBucket(Rate(1, 2), now=1000.0)
    assert bucket.take(2, 1000.0)
    assert bucket.level(10.0) == 0  # wall clock stepped back
    assert bucket.level(11.0) == 1  # and refill resumes from there


def test_burst_then_refill_per_peer() -> None:
    rl = limiter()
    assert burst(rl, 5, 0.0) == [None] * 5
    verdict = rl.check(ALICE, "192.0.2.1", 10, 0.0)
    assert verdict.action is Action.DROPPED
    assert verdict.exceeded == ((Scope.PEER_ID, Unit.PACKETS), (Scope.IP, Unit.PACKETS))
    assert rl.check(ALICE, "192.0.2.1", 10, 0.1).passed  # 10/s: one more after 0.1 s
    assert not rl.check(ALICE, "192.0.2.1", 10, 0.1).passed


def test_peer_and_ip_buckets_are_separate() -> None:
    rl = limiter()
    assert burst(rl, 5, 0.0, ALICE, "192.0.2.1") == [None] * 5
    # Another peer on another IP is untouched; another peer on the same IP shares the IP bucket.
    assert rl.check(BOB, "192.0.2.2", 10, 0.0).passed
    verdict = rl.check(CAROL, "192.0.2.1", 10, 0.0)
    assert verdict.exceeded == ((Scope.IP, Unit.PACKETS),)
    # The same peer id from a new IP still has an empty peer-id bucket.
    assert rl.check(ALICE, "198.51.100.7", 10, 0.0).exceeded == ((Scope.PEER_ID, Unit.PACKETS),)


def test_ipv6_keyed_by_slash_64_and_mapped_ipv4_as_ipv4() -> None:
    rl = limiter()
    assert burst(rl, 5, 0.0, ALICE, "2001:db8:1:2::1") == [None] * 5
    assert rl.check(BOB, "2001:db8:1:2:ffff::9", 10, 0.0).exceeded == ((Scope.IP, Unit.PACKETS),)
    assert rl.check(BOB, "2001:db8:1:3::1", 10, 0.0).passed
    assert burst(rl, 5, 0.0, CAROL, "::ffff:192.0.2.9") == [None] * 5
    assert rl.check(b"\x04" * 64, "192.0.2.9", 10, 0.0).exceeded == ((Scope.IP, Unit.PACKETS),)


def test_bytes_bucket_and_oversized_packet() -> None:
    rl = limiter(packet_rate=Rate(1000, 1000))
    assert rl.check(ALICE, "192.0.2.1", 3000, 0.0).passed
    verdict = rl.check(ALICE, "192.0.2.1", 1500, 0.0)
    assert verdict.exceeded == ((Scope.PEER_ID, Unit.BYTES), (Scope.IP, Unit.BYTES))
    # An exceeding packet takes nothing: 1000 bytes are still there for a smaller one.
    assert rl.check(ALICE, "192.0.2.1", 1000, 0.0).passed
    # A packet above the 4000-byte burst passes on a full bucket (4 s to refill), once.
    assert rl.check(ALICE, "192.0.2.1", 9000, 4.0).passed
    assert not rl.check(ALICE, "192.0.2.1", 9000, 5.0).passed
    stats = rl.stats()
    assert stats.checked == {Unit.PACKETS: 5, Unit.BYTES: 3000 + 1500 + 1000 + 9000 + 9000}


def test_enforce_tolerance_window_and_actions() -> None:
    rl = limiter()
    burst(rl, 5, 0.0)
    assert burst(rl, 2, 0.0) == [Action.DROPPED, Action.DROPPED]
    verdict = rl.check(ALICE, "192.0.2.1", 10, 0.0)
    assert verdict.action is Action.DISCONNECTED and verdict.strikes == 3
    # Not droppable (say a PoW requirement update): counted, not dropped; still a strike.
    rl = limiter()
    burst(rl, 5, 0.0)
    assert rl.check(ALICE, "192.0.2.1", 10, 0.0, droppable=False).action is Action.OBSERVED
    # Strikes older than the window no longer count.
    rl = limiter(window=60.0)
    burst(rl, 5, 0.0)
    assert burst(rl, 2, 0.0) == [Action.DROPPED] * 2
    assert burst(rl, 5, 60.0) == [None] * 5  # refilled
    assert rl.check(ALICE, "192.0.2.1", 10, 60.0).action is Action.DROPPED  # strikes: 1, not 3
    assert rl.check(ALICE, "192.0.2.1", 10, 60.0).action is Action.DROPPED
    assert rl.check(ALICE, "192.0.2.1", 10, 60.0).action is Action.DISCONNECTED
    stats = rl.stats()
    assert stats.exceeded[(Scope.PEER_ID, Unit.PACKETS, Action.DROPPED)] == 4
    assert stats.exceeded[(Scope.IP, Unit.PACKETS, Action.DISCONNECTED)] == 1
    assert stats.exceeded[(Scope.PEER_ID, Unit.BYTES, Action.DROPPED)] == 0


def test_ip_strikes_survive_a_new_peer_id() -> None:
    """Reconnecting under a fresh node id does not reset what the IP did."""
    rl = limiter()
    burst(rl, 5, 0.0, ALICE)
    assert burst(rl, 2, 0.0, ALICE) == [Action.DROPPED] * 2
    assert rl.check(BOB, "192.0.2.1", 10, 0.0).action is Action.DISCONNECTED


def test_tolerance_zero_never_disconnects() -> None:
    rl = limiter(tolerance=0)
    burst(rl, 5, 0.0)
    assert set(burst(rl, 100, 0.0)) == {Action.DROPPED}


def test_observe_counts_and_never_drops() -> None:
    rl = limiter(RateLimitMode.OBSERVE)
    actions = burst(rl, 30, 0.0)
    assert actions == [None] * 5 + [Action.OBSERVED] * 25
    stats = rl.stats()
    assert stats.mode is RateLimitMode.OBSERVE
    assert stats.exceeded[(Scope.PEER_ID, Unit.PACKETS, Action.OBSERVED)] == 25
    assert stats.exceeded[(Scope.IP, Unit.PACKETS, Action.OBSERVED)] == 25
    assert sum(v for (_, _, a), v in stats.exceeded.items() if a is not Action.OBSERVED) == 0


def test_off_counts_nothing() -> None:
    rl = limiter(RateLimitMode.OFF)
    assert not rl.enabled
    assert burst(rl, 30, 0.0) == [None] * 30
    assert rl.stats().checked == {Unit.PACKETS: 0, Unit.BYTES: 0}
    assert rl.stats().tracked == {Scope.PEER_ID: 0, Scope.IP: 0}


def test_reports_at_most_one_per_interval() -> None:
    rl = limiter(RateLimitMode.OBSERVE, report_interval=10.0, packet_rate=Rate(0.01, 5))
    burst(rl, 5, 0.0)
    reports = [rl.check(ALICE, "192.0.2.1", 10, 0.0).report for _ in range(4)]
    assert reports == [1, 0, 0, 0]
    assert rl.check(ALICE, "192.0.2.1", 10, 9.9).report == 0
    assert rl.check(ALICE, "192.0.2.1", 10, 10.0).report == 5  # 3 + 1 + this one
    assert rl.check(ALICE, "192.0.2.1", 10, 10.0).report == 0


def test_exemptions() -> None:
    rl = limiter(
        exempt_loopback=True, exempt_ips=frozenset({"203.0.113.5"}), exempt_ids=frozenset({BOB})
    )
    for host in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "203.0.113.5"):
        assert set(burst(rl, 20, 0.0, ALICE, host)) == {None}, host
    assert set(burst(rl, 20, 0.0, BOB, "192.0.2.1")) == {None}
    assert set(burst(rl, 20, 0.0, CAROL, "192.0.2.1", exempt=True)) == {None}
    stats = rl.stats()
    assert stats.exempt == 5 * 20 + 20 + 20
    assert stats.checked[Unit.PACKETS] == 0 and stats.tracked == {Scope.PEER_ID: 0, Scope.IP: 0}
    # The loopback exemption is a setting, so that tests on 127.0.0.1 can see limits.
    rl = limiter(exempt_loopback=False)
    assert burst(rl, 6, 0.0, ALICE, "127.0.0.1")[-1] is Action.DROPPED


def test_idle_state_is_dropped() -> None:
    """A stream of new ids and IPs, each sending a little: state stays at what is not refilled."""
    rl = limiter(RateLimitMode.OBSERVE, max_tracked=100_000)
    for i in range(5000):
        now = i * 0.01  # 100 new peers a second, each from a new IP, one packet each
        host = f"10.0.{i // 256}.{i % 256}"
        assert rl.check(i.to_bytes(64, "big"), host, 500, now).passed
    tracked = rl.stats().tracked
    # A packet's 500 bytes refill in 0.5 s and its token in 0.1 s: about 50 keys are not idle.
    assert tracked[Scope.PEER_ID] <= 60 and tracked[Scope.IP] <= 60


def test_state_is_capped_when_nothing_is_idle() -> None:
    rl = limiter(max_tracked=64, window=60.0)
    for i in range(1000):
        peer = i.to_bytes(64, "big")
        burst(rl, 6, 0.0, peer, f"10.0.{i // 256}.{i % 256}")  # each one exceeds: strikes kept
    assert rl.stats().tracked == {Scope.PEER_ID: 64, Scope.IP: 64}


def test_an_evicted_idle_key_comes_back_as_new() -> None:
    rl = limiter()
    burst(rl, 5, 0.0)
    rl.check(BOB, "192.0.2.2", 10, 100.0)  # ALICE's state is idle by now: dropped
    assert rl.stats().tracked == {Scope.PEER_ID: 1, Scope.IP: 1}
    assert burst(rl, 5, 100.0) == [None] * 5


def test_parse_rate() -> None:
    assert parse_rate("20", 3) == Rate(20, 60)
    assert parse_rate("20:100", 3) == Rate(20, 100)
    assert parse_rate("1MiB:4MiB", 4) == Rate(MIB, 4 * MIB)
    assert parse_rate("1.5k", 2) == Rate(1500, 3000)
    assert parse_rate(7, 3) == Rate(7, 21)
    assert parse_rate([5, 6], 3) == Rate(5, 6)
    for bad in ("", "x", "0", "-1", "nan", "inf", "1:0", "1:2:3", [1], True, None):
        with pytest.raises(UsageError):
            parse_rate(bad, 3)


def test_settings_validated() -> None:
    config = NodeConfig(datadir=None)
    limits = config.rate_limit_config()
    assert limits.mode is RateLimitMode.OBSERVE
    assert limits.packet_rate == Rate(50, 150) and limits.byte_rate == Rate(MIB, 4 * MIB)
    assert limits.tolerance == 20 and limits.exempt_loopback
    key = PrivateKey.generate(lambda n: b"\x07" * n)
    enode = f"enode://{key.node_id.hex()}@192.0.2.1:30303"
    config = NodeConfig(
        datadir=None,
        ratelimit=RateLimitMode("enforce"),
        ratelimit_exempt=(enode, "cd" * 64, "::ffff:198.51.100.1", "2001:db8::1"),
    )
    limits = config.rate_limit_config()
    assert limits.mode is RateLimitMode.ENFORCE
    assert limits.exempt_ids == {key.node_id, bytes.fromhex("cd" * 64)}
    assert limits.exempt_ips == {"198.51.100.1", "2001:db8::/64"}
    bad: list[dict[str, object]] = [
        {"ratelimit": "drop"},
        {"ratelimit_packets": (0, 10)},
        {"ratelimit_packets": (float("nan"), 10)},
        {"ratelimit_bytes": (1, float("inf"))},
        {"ratelimit_bytes": (1,)},
        {"ratelimit_tolerance": -1},
        {"ratelimit_tolerance": 2.5},
        {"ratelimit_exempt_loopback": "yes"},
        {"ratelimit_exempt": ("example.org",)},
        {"ratelimit_exempt": ("enode://zz@1.2.3.4:1",)},
    ]
    for change in bad:
        with pytest.raises(UsageError, match="rate"):
            NodeConfig(datadir=None, **change)  # type: ignore[arg-type]


def test_rate_limit_config_takes_strings_as_the_cli_gives_them() -> None:
    limits = rate_limit_config(
        mode="enforce",
        packets=(5, 6),
        volume=Rate(7, 8),
        tolerance=0,
        exempt_loopback=False,
        exempt=("192.0.2.1",),
    )
    assert limits.mode is RateLimitMode.ENFORCE and limits.tolerance == 0
    assert limits.packet_rate == Rate(5, 6) and limits.exempt_ips == {"192.0.2.1"}


def test_a_geth_paced_peer_never_exceeds_the_defaults() -> None:
    """geth: after a restart one `messages` packet with its pool (at most the 1 MiB max message
    size, else peers drop it), then one packet per 300 ms tick plus the odd PoW/bloom update
    (hardening.md §2.2); at 1 MiB/s sustained, the defaults must let all of it through."""
    rl = RateLimiter(RateLimitConfig(mode=RateLimitMode.ENFORCE, exempt_loopback=False))
    assert rl.check(ALICE, "192.0.2.1", 80, 0.0).passed  # status
    assert rl.check(ALICE, "192.0.2.1", MIB, 0.01).passed  # the whole pool
    for tick in range(1, 400):  # 2 minutes of 300 ms ticks, ~1 MiB/s
        now = 0.01 + tick * 0.3
        assert rl.check(ALICE, "192.0.2.1", 300 * 1024, now).passed, tick
        if tick % 10 == 0:
            assert rl.check(ALICE, "192.0.2.1", 64, now).passed  # a PoW requirement update
    assert sum(rl.stats().exceeded.values()) == 0


class _Reference(RateLimiter):
    """`check` and `_state` as written before their buckets were inlined and idle state reused:
    through `TokenBucket.level` and `TokenBucket.cost`, one call each, a new `_KeyState` for
    every new key. The limiter must agree with it exactly."""

    def _state(self, table: OrderedDict[object, _KeyState], key: object, now: float) -> _KeyState:
        state = table.get(key)
        if state is not None:
            table.move_to_end(key)
            return state
        while table and next(iter(table.values())).idle(now, self.config.window):
            table.popitem(last=False)
        while len(table) >= self.config.max_tracked:
            table.popitem(last=False)
        state = table[key] = _KeyState(self.config, now)
        return state

    def check(
        self,
        peer_id: bytes,
        host: str,
        size: int,
        now: float,
        *,
        droppable: bool = True,
        exempt: bool = False,
    ) -> Verdict:
        config = self.config
        ip, loopback = ip_scope(host)
        if (
            exempt
            or (loopback and config.exempt_loopback)
            or ip in config.exempt_ips
            or peer_id in config.exempt_ids
        ):
            self._exempt += 1
            return Verdict()
        self._checked_packets += 1
        self._checked_bytes += size
        by_peer = self._state(self._peers, peer_id, now)
        by_ip = self._state(self._ips, ip, now)
        buckets = (by_peer.packets, by_peer.volume, by_ip.packets, by_ip.volume)
        packet_cost, byte_cost = by_peer.packets.cost(1), by_peer.volume.cost(size)
        costs = (packet_cost, byte_cost) * 2
        if all(bucket.level(now) >= cost for bucket, cost in zip(buckets, costs, strict=True)):
            for bucket, cost in zip(buckets, costs, strict=True):
                bucket.tokens -= cost
            return Verdict()
        return self._exceeding(by_peer, by_ip, buckets, costs, now, droppable)

    def _exceeding(
        self,
        by_peer: _KeyState,
        by_ip: _KeyState,
        buckets: tuple[TokenBucket, ...],
        costs: tuple[float, ...],
        now: float,
        droppable: bool,
    ) -> Verdict:
        config = self.config
        slots = [(Scope.PEER_ID, Unit.PACKETS), (Scope.PEER_ID, Unit.BYTES)]
        slots += [(Scope.IP, Unit.PACKETS), (Scope.IP, Unit.BYTES)]
        exceeded = tuple(
            slot
            for slot, bucket, cost in zip(slots, buckets, costs, strict=True)
            if bucket.level(now) < cost
        )
        enforce = config.mode is RateLimitMode.ENFORCE
        strikes = 0
        if enforce:
            for scope, state in ((Scope.PEER_ID, by_peer), (Scope.IP, by_ip)):
                if any(s is scope for s, _ in exceeded):
                    state.strike(now, config.tolerance)
                strikes = max(strikes, state.recent_strikes(now, config.window))
        if enforce and config.tolerance and strikes >= config.tolerance:
            action = Action.DISCONNECTED
        elif enforce and droppable:
            action = Action.DROPPED
        else:
            action = Action.OBSERVED
        for scope, unit in exceeded:
            self._exceeded[(scope, unit, action)] += 1
        self._unreported += 1
        report = 0
        if now >= self._next_report or now < self._next_report - config.report_interval:
            report, self._unreported = self._unreported, 0
            self._next_report = now + config.report_interval
        return Verdict(action, exceeded, strikes, report)


def _levels(rl: RateLimiter) -> list[tuple[object, float, float, float, float]]:
    return [
        (key, s.packets.tokens, s.packets.stamp, s.volume.tokens, s.volume.stamp)
        for table in (rl._peers, rl._ips)
        for key, s in table.items()
    ]


@pytest.mark.parametrize("mode", [RateLimitMode.ENFORCE, RateLimitMode.OBSERVE])
@pytest.mark.parametrize("seed", range(4))
def test_inlined_check_gives_the_reference_verdicts(mode: RateLimitMode, seed: int) -> None:
    """Random traffic from a few peers on a few hosts (sizes around the bursts, steady and
    bursty spells, the clock now and then going back, more keys than are tracked): every
    verdict, every bucket's tokens and stamp and every counter equal the reference's."""
    rng = random.Random(seed)
    settings: dict[str, object] = {
        "mode": mode,
        "packet_rate": Rate(rng.choice([5, 10, 50]), rng.choice([0.5, 5, 150])),
        "byte_rate": Rate(rng.choice([1000, MIB]), rng.choice([400, 4000, 4 * MIB])),
        "tolerance": rng.choice([0, 3, 20]),
        "window": 5.0,
        "report_interval": 2.0,
        "exempt_loopback": True,
        "max_tracked": 6,
    }
    fast = RateLimiter(RateLimitConfig(**settings))  # type: ignore[arg-type]
    reference = _Reference(RateLimitConfig(**settings))  # type: ignore[arg-type]
    peers = [bytes([i]) * 64 for i in range(1, 9)]
    hosts = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "127.0.0.1", "10.0.0.9"]
    now, verdicts = 1000.0, set()
    for _ in range(3000):
        now += rng.choice([0.0, 0.0, 0.001, 0.02, 0.3, 1.7, 30.0, -0.5])
        size = rng.choice([0, 10, 399, 400, 401, 3999, 4000, 5000, 70_000, 5 * MIB])
        args = (rng.choice(peers), rng.choice(hosts), size, now)
        droppable, exempt = rng.random() < 0.8, rng.random() < 0.05
        got = fast.check(*args, droppable=droppable, exempt=exempt)
        assert got == reference.check(*args, droppable=droppable, exempt=exempt)
        assert _levels(fast) == _levels(reference)
        verdicts.add(got.action)
    assert fast.stats() == reference.stats()
    assert {None, Action.OBSERVED if mode is RateLimitMode.OBSERVE else Action.DROPPED} <= verdicts
