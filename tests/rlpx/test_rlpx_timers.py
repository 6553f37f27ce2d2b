"""Timers as data in the sans-IO `Connection`: ping cadence, read and handshake deadlines, all on
a fake clock (a float passed in as `now`) — no event loop, no sleeps (devp2p.md §3, §4.2, §4.5)."""

from __future__ import annotations

import os

import pytest

from hush.crypto import PrivateKey
from hush.errors import DisconnectReason, PeerError, UsageError
from hush.rlpx import (
    HANDSHAKE_TIMEOUT,
    PING_INTERVAL,
    READ_TIMEOUT,
    Capability,
    Connection,
    DisconnectReceived,
    Event,
    HelloReceived,
    MessageReceived,
    PongReceived,
    State,
)

SHH = (Capability("shh", 6, 128),)
T0 = 1000.0  # any clock will do: the core only compares what it is given


def make_pair(now: float = T0, **timers: float) -> tuple[Connection, Connection]:
    key_a, key_b = PrivateKey.generate(os.urandom), PrivateKey.generate(os.urandom)
    a = Connection(
        key_a,
        os.urandom,
        remote_node_id=key_b.node_id,
        client_id="a",
        capabilities=SHH,
        now=now,
        **timers,
    )
    b = Connection(key_b, os.urandom, client_id="b", capabilities=SHH, now=now, **timers)
    return a, b


def pump(src: Connection, dst: Connection, now: float) -> list[Event]:
    dst.receive_data(src.data_to_send(), now)
    events = []
    while (event := dst.next_event()) is not None:
        events.append(event)
    return events


def establish(a: Connection, b: Connection, now: float) -> None:
    pump(a, b, now)
    pump(b, a, now)
    a.send_hello()
    b.send_hello()
    [hello_b] = pump(a, b, now)
    [hello_a] = pump(b, a, now)
    assert isinstance(hello_a, HelloReceived) and isinstance(hello_b, HelloReceived)
    assert a.state is b.state is State.ESTABLISHED


def test_defaults_are_geths() -> None:
    assert (HANDSHAKE_TIMEOUT, READ_TIMEOUT, PING_INTERVAL) == (5.0, 30.0, 15.0)
    a, b = make_pair()
    assert a.get_timer() == b.get_timer() == T0 + 5.0
    establish(a, b, T0 + 1.0)
    assert a.get_timer() == T0 + 1.0 + 15.0  # the first Ping, before the read deadline


def test_ping_cadence() -> None:
    a, b = make_pair(ping_interval=2.0, read_timeout=30.0)
    establish(a, b, T0)
    now = T0
    for _ in range(5):
        assert a.get_timer() == now + 2.0
        a.handle_timer(now + 1.999)  # early: nothing
        assert a.data_to_send() == b""
        now += 2.0
        a.handle_timer(now)
        assert pump(a, b, now) == []  # a Ping, answered by b automatically
        assert pump(b, a, now) == [PongReceived()]
    assert a.state is State.ESTABLISHED


def test_late_timer_does_not_burst_pings() -> None:
    a, b = make_pair(ping_interval=2.0, read_timeout=100.0)
    establish(a, b, T0)
    a.handle_timer(T0 + 9.0)  # the shell was 7 s late: one Ping, and the cadence counts from now
    assert pump(a, b, T0 + 9.0) == []
    assert pump(b, a, T0 + 9.0) == [PongReceived()]
    assert a.get_timer() == T0 + 11.0


def test_read_deadline_is_reset_by_input() -> None:
    a, b = make_pair(ping_interval=100.0, read_timeout=3.0)
    establish(a, b, T0)
    assert b.get_timer() == T0 + 3.0
    for step in range(1, 6):  # input every 2 s keeps the 3 s deadline from passing
        now = T0 + 2.0 * step
        b.handle_timer(now)
        a.send_message("shh", 1, b"\xc0")
        assert pump(a, b, now) == [MessageReceived("shh", 1, b"\xc0")]
        assert b.get_timer() == now + 3.0
    last = T0 + 10.0
    b.handle_timer(last + 2.999)
    assert b.state is State.ESTABLISHED
    b.handle_timer(last + 3.0)
    assert b.state is State.ERROR
    with pytest.raises(PeerError, match="read timeout") as info:
        b.next_event()
    assert info.value.reason is DisconnectReason.READ_TIMEOUT
    assert b.get_timer() is None
    b.disconnect(info.value.reason)  # egress is intact: the peer is told why
    assert pump(b, a, last + 3.0) == [DisconnectReceived(DisconnectReason.READ_TIMEOUT)]


def test_empty_input_and_input_without_now_do_not_move_the_deadline() -> None:
    a, b = make_pair(ping_interval=100.0, read_timeout=3.0)
    establish(a, b, T0)
    b.receive_data(b"", T0 + 2.0)
    a.send_message("shh", 1, b"\xc0")
    b.receive_data(a.data_to_send())  # no `now`: the timers stand still
    assert b.get_timer() == T0 + 3.0


def test_paused_reading_stops_the_read_deadline_but_not_pings() -> None:
    a, b = make_pair(ping_interval=2.0, read_timeout=3.0)
    establish(a, b, T0)
    b.pause_reading()
    assert b.get_timer() == T0 + 2.0
    b.handle_timer(T0 + 2.0)
    b.handle_timer(T0 + 4.0)
    b.handle_timer(T0 + 6.0)  # twice past the read deadline, still alive, still pinging
    assert b.state is State.ESTABLISHED
    assert pump(b, a, T0 + 6.0) == []  # three Pings, each answered by a Pong
    b.resume_reading(T0 + 6.5)
    assert b.get_timer() == T0 + 8.0  # the next Ping; the read deadline is T0 + 9.5
    b.handle_timer(T0 + 8.0)
    assert b.get_timer() == T0 + 9.5
    b.handle_timer(T0 + 9.5)
    assert b.state is State.ERROR


def test_handshake_deadline_covers_rlpx_and_hello() -> None:
    # Silence before the RLPx handshake.
    a, _ = make_pair(handshake_timeout=5.0)
    a.handle_timer(T0 + 4.9)
    assert a.state is State.HANDSHAKE
    a.handle_timer(T0 + 5.0)
    with pytest.raises(PeerError, match="handshake timed out") as info:
        a.next_event()
    assert info.value.reason is DisconnectReason.READ_TIMEOUT
    assert a.get_timer() is None

    # RLPx done, Hello sent, the remote's Hello never comes: input does not extend it.
    a, b = make_pair(handshake_timeout=5.0)
    pump(a, b, T0 + 1.0)
    pump(b, a, T0 + 2.0)
    a.send_hello()
    b.send_hello()
    b.data_to_send()  # b's Hello is lost
    assert a.state is State.HELLO_SENT
    assert a.get_timer() == T0 + 5.0
    a.handle_timer(T0 + 5.0)
    with pytest.raises(PeerError, match="handshake timed out"):
        a.next_event()

    # Still waiting on our admission decision (AUTHENTICATED) counts too.
    a, b = make_pair(handshake_timeout=5.0)
    pump(a, b, T0)
    assert b.state is State.AUTHENTICATED
    assert b.get_timer() == T0 + 5.0
    b.handle_timer(T0 + 6.0)
    assert b.state is State.ERROR


def test_no_timer_after_closed_or_error() -> None:
    a, b = make_pair()
    establish(a, b, T0)
    a.disconnect(DisconnectReason.REQUESTED)
    assert a.get_timer() is None
    a.handle_timer(T0 + 1000.0)  # does nothing, queues nothing
    assert a.state is State.CLOSED
    pump(a, b, T0)
    assert b.state is State.CLOSED
    assert b.get_timer() is None

    c, d = make_pair()
    establish(c, d, T0)
    d.receive_data(b"\x00" * 64, T0)
    with pytest.raises(PeerError):
        d.next_event()
    assert d.state is State.ERROR
    assert d.get_timer() is None
    d.handle_timer(T0 + 1000.0)
    assert d.data_to_send() == b""


def test_timer_settings_must_be_positive() -> None:
    key = PrivateKey.generate(os.urandom)
    for name in ("handshake_timeout", "read_timeout", "ping_interval"):
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(UsageError, match=name):
                Connection(key, os.urandom, client_id="x", capabilities=SHH, **{name: bad})
