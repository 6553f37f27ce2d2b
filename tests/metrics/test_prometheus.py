"""/metrics: the hush_* set, parsed by prometheus_client's own text parser, from live nodes."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from node.conftest import connect, raw_peer, wait_for
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hush.cli.node_run import run_node
from hush.cli.node_settings import settings_from
from hush.enode import short_id
from hush.errors import UsageError
from hush.metrics.server import MetricsServer, metrics_registry
from hush.node import PostRequest
from hush.shh.packets import PacketCode

from .conftest import KEY, TOPIC, StatsNodeFactory, messages, sealed

HUSH_FAMILIES = {
    "hush_peers",
    "hush_peer_events",
    "hush_packets",
    "hush_packet_bytes",
    "hush_envelopes_received",
    "hush_envelopes_accepted",
    "hush_envelopes_duplicate",
    "hush_envelopes_rejected",
    "hush_envelopes_expired",
    "hush_envelope_size_bytes",
    "hush_envelope_age_seconds",
    "hush_pool_envelopes",
    "hush_pool_bytes",
    "hush_broadcast_bundle_envelopes",
    "hush_delivery_queue_depth",
    "hush_filters",
    "hush_messages_delivered",
    "hush_decrypt_attempts",
    "hush_pow_seal_seconds",
    "hush_ratelimit_checked",
    "hush_ratelimit_exceeded",
    "hush_mail_requests",
    "hush_mail_request_duration_seconds",
    "hush_mail_envelopes_sent",
    "hush_mail_bytes_sent",
    "hush_mail_db_query_seconds",
    "hush_mail_archived_envelopes",
    "hush_mail_archive_errors",
    "hush_mail_pruned",
    "hush_history_requests",
    "hush_history_request_duration_seconds",
    "hush_event_loop_lag_seconds",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "python_gc_objects_collected",
}


def parse(text: str) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """family name → {(sample name, sorted labels): value}."""
    families: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return families


async def test_metrics_endpoint_serves_the_hush_set(stats_node: StatsNodeFactory) -> None:
    a, _ = await stats_node()
    b, sb = await stats_node()
    await connect(a, b)
    key = a.keys.add_sym_key(KEY.secret)
    sent = await a.post(PostRequest(b"scraped", TOPIC, sym_key_id=key, pow_target=0.05))
    await wait_for(lambda: sb.accepted == 1)
    envelope = a.envelope(sent)
    assert envelope is not None
    hostile = await raw_peer(b)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages(envelope))
    await wait_for(lambda: sb.duplicate == 1)

    server = MetricsServer(b, sb)
    await server.start("127.0.0.1", 0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(server.url) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"].startswith("text/plain; version=")
            text = await reply.text()
            async with session.get(server.url.replace("/metrics", "/")) as other:
                assert other.status == 404  # only /metrics is served
    finally:
        await server.stop()
    families = parse(text)
    assert families.keys() >= HUSH_FAMILIES
    assert families["hush_envelopes_accepted"] == {("hush_envelopes_accepted_total", ()): 1}
    assert families["hush_envelopes_duplicate"] == {("hush_envelopes_duplicate_total", ()): 1}
    assert (
        families["hush_envelopes_received"]["hush_envelopes_received_total", (("source", "peer"),)]
        == 2
    )
    peers = families["hush_peers"]
    assert peers["hush_peers", (("direction", "in"), ("kind", "full"), ("protocol", "shh"))] == 2
    assert sum(peers.values()) == 2
    assert families["hush_pool_envelopes"] == {("hush_pool_envelopes", ()): 1}
    sizes = families["hush_envelope_size_bytes"]
    assert sizes["hush_envelope_size_bytes_count", ()] == 1
    assert sizes["hush_envelope_size_bytes_bucket", (("le", "+Inf"),)] == 1
    packets = families["hush_packets"]
    assert packets["hush_packets_total", (("code", "0x01"), ("direction", "in"))] >= 2
    # the cardinality rule: no per-peer (or per-topic) label, no compat names, by default
    assert not any(name.startswith(("whisper_", "mailserver_")) for name in families)
    assert not any(
        dict(labels).keys() & {"peer", "topic"}
        for samples in families.values()
        for _, labels in samples
    )


async def test_compat_names_and_per_peer_series_only_when_asked(
    stats_node: StatsNodeFactory,
) -> None:
    a, _ = await stats_node()
    b, sb = await stats_node(min_pow=0.02)
    await connect(a, b)
    hostile = await raw_peer(b)
    low_pow = sealed(time.time(), 0)
    while low_pow.pow() >= 0.02:  # target 0 takes the first nonce, which may be lucky
        low_pow = sealed(time.time(), 0)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages(low_pow))
    await wait_for(lambda: sb.rejected.get("low_pow") == 1 and len(b.peers()) == 1)
    sb.archive.set_archived("sqlite", 10)
    sb.archive.archived("sqlite", 2)
    sb.archive.request("status_v1", "ok", 0.02)
    sb.archive.request("made_up", "error")

    plain = parse(generate_latest(metrics_registry(b, sb)).decode())
    assert "whisper_envelopes_cached" not in plain and "hush_peer_packets" not in plain
    assert plain["hush_mail_archived_envelopes"] == {
        ("hush_mail_archived_envelopes", (("backend", "sqlite"),)): 12
    }
    assert plain["hush_mail_requests"] == {
        ("hush_mail_requests_total", (("dialect", "status_v1"), ("result", "ok"))): 1,
        ("hush_mail_requests_total", (("dialect", "other"), ("result", "error"))): 1,
    }

    full = parse(
        generate_latest(metrics_registry(b, sb, per_peer=True, compat=("status",))).decode()
    )
    failures = full["whisper_envelopes_cache_failures"]
    assert failures["whisper_envelopes_cache_failures_total", (("type", "low_pow"),)] == 1
    assert full["whisper_envelopes_received"] == {("whisper_envelopes_received_total", ()): 1}
    assert full["mailserver_archived_envelopes"] == {
        ("mailserver_archived_envelopes", (("db", "sqlite"),)): 12
    }
    assert "whisper_rate_limits_processed" in full and "mailserver_delivery_failures" in full
    peer_labels = {dict(labels)["peer"] for _, labels in full["hush_peer_packets"]}
    assert peer_labels == {short_id(a.node_key.node_id)}  # connected peers only


def test_metrics_flags() -> None:
    settings = settings_from({"metrics": "9090"}, None)
    assert settings.metrics == ("127.0.0.1", 9090)  # a bare port is loopback
    assert settings_from({}, None).metrics is None  # off unless given
    assert settings_from({"metrics_compat": ("status",)}, None).metrics_compat == ("status",)
    with pytest.raises(UsageError, match="metrics-compat"):
        settings_from({"metrics_compat": ("geth",)}, None)


async def test_hush_node_serves_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_from(
        {
            "datadir": str(tmp_path),
            "listen": "127.0.0.1:0",
            "metrics": "127.0.0.1:0",
            "metrics_compat": ("status",),
        },
        None,
    )
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_node(settings, stop))
    try:
        url = ""
        async with asyncio.timeout(10):
            while not url:
                await asyncio.sleep(0.02)
                assert not running.done()
                url = next(
                    (
                        line.split(" ", 1)[1]
                        for line in capsys.readouterr().out.splitlines()
                        if line.startswith("metrics: ")
                    ),
                    "",
                )
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            families = parse(await reply.text())
        assert "hush_peers" in families and "whisper_envelopes_received" in families
    finally:
        stop.set()
        await running


async def test_a_busy_metrics_port_names_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = settings_from(
            {"datadir": str(tmp_path), "listen": "off", "metrics": f"127.0.0.1:{port}"}, None
        )
        with pytest.raises(UsageError, match=rf"metrics on 127.0.0.1:{port}.*--metrics"):
            await run_node(settings, asyncio.Event())
