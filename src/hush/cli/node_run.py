"""Running a node from NodeSettings: `run_node`, and startup errors that say what to change.

Rules:
- `run_node` maps NodeSettings onto NodeConfig/RpcConfig, starts the node (observed by a
  `NodeStats`, which `hush_stats` reads), the JSON-RPC endpoints (IPC in the datadir unless
  disabled) and, with `--metrics`, the Prometheus endpoint; prints `enode:`, `http:`, `ws:`,
  `ipc:` and `metrics:` on stdout, and stops everything when `stop` is set or on SIGINT/SIGTERM.
- A failed bind is one UsageError line naming the flag to change (`--listen`, `--http`, `--ws`,
  `--metrics`, `--ipc`), never a traceback; so is an unreadable passphrase file.
- The keystore passphrase comes from `--passphrase-file`, else $HUSH_PASSPHRASE, else a terminal
  prompt; never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

import click

from hush.archive.server import ArchiveConfig, ArchiveServer
from hush.archive.store import open_store
from hush.cli.common import read_secret_file
from hush.cli.node_discovery import dial_policy, running_discovery, with_discovery
from hush.cli.node_settings import NodeSettings, api_limits, ipc_path, rpc_settings
from hush.enode import host_port
from hush.errors import UsageError
from hush.metrics import NodeStats
from hush.net.limits import AcceptErrorLog
from hush.node import Node, NodeConfig
from hush.node.keyfile import KEYSTORE_FILE, PersistentKeyStore
from hush.rpc import RpcConfig, RpcServer, ShhApi
from hush.rpc.ipcpath import IpcPathTooLong

if TYPE_CHECKING:
    from hush.metrics.server import MetricsServer

__all__ = ["run_node"]

log = logging.getLogger("hush.cli.node")  # the command's name in log lines, as before the split


def _passphrase(settings: NodeSettings) -> str:
    if settings.passphrase_file is not None:
        try:
            return settings.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read passphrase file: {exc}") from exc
        except UnicodeDecodeError:
            raise UsageError(
                f"passphrase file {settings.passphrase_file} is not UTF-8 text"
            ) from None
    from_env = os.environ.get("HUSH_PASSPHRASE")
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise UsageError(
            "--keystore needs --passphrase-file or $HUSH_PASSPHRASE when stdin is not a terminal"
        )
    passphrase: str = click.prompt("keystore passphrase", hide_input=True, err=True)
    return passphrase


def _listen_error(what: str, flag: str, address: tuple[str, int], exc: OSError) -> UsageError:
    """One line for a failed bind that says what to change (issue 14 item 4)."""
    host, port = address
    if exc.errno == errno.EADDRINUSE:
        why = f"port {port} is already in use (another hush node?); choose another with {flag}"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = f"{host} is not an address of this machine; use {flag} 0.0.0.0:{port} for all"
    elif exc.errno == errno.EACCES:
        why = f"permission denied (ports below 1024 need privileges); choose another with {flag}"
    elif isinstance(exc, socket.gaierror):
        why = f"cannot resolve {host!r}; give an IP address to {flag}"
    else:
        why = exc.strerror or str(exc)
    return UsageError(f"cannot listen for {what} on {host_port(host, port)}: {why}")


async def _start_metrics(
    node: Node, stats: NodeStats, settings: NodeSettings, address: tuple[str, int]
) -> MetricsServer:
    """Prometheus /metrics (imported only when asked for); prints `metrics: URL`."""
    from hush.metrics.server import MetricsServer  # noqa: PLC0415

    server = MetricsServer(
        node, stats, per_peer=settings.metrics_per_peer, compat=settings.metrics_compat
    )
    try:
        await server.start(*address)
    except OSError as exc:
        raise _listen_error("metrics", "--metrics HOST:PORT", address, exc) from None
    click.echo(f"metrics: {server.url}")
    return server


async def _start_ipc(node: Node, settings: NodeSettings, api: ShhApi) -> RpcServer | None:
    """The IPC endpoint, unless disabled; a default path too long for a socket only warns."""
    path = ipc_path(settings)
    if path is None:
        return None
    server = RpcServer(node, rpc_settings(settings), api=api)
    try:
        await server.start_ipc(path)
    except IpcPathTooLong as exc:
        if settings.ipc is not None:
            raise
        click.echo(f"hush: warning: {exc}; IPC is off", err=True)
        return None
    return server


async def run_node(settings: NodeSettings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set, or SIGINT/SIGTERM."""
    settings = with_discovery(settings)  # a fleet file's nodes join bootnodes and peers
    config = NodeConfig(
        datadir=settings.datadir,
        listen_host=settings.listen[0] if settings.listen else "127.0.0.1",
        listen_port=settings.listen[1] if settings.listen else 0,
        listen=settings.listen is not None,
        advertise_host=settings.nat,
        static_peers=settings.peers,
        trusted_peers=settings.trusted,
        max_peers=settings.max_peers,
        max_pending_peers=settings.max_pending_peers,
        max_peers_per_ip=settings.max_peers_per_ip,
        min_pow=settings.min_pow,
        max_message_size=settings.max_message_size,
        light=settings.light,
        stem=settings.stem,
        stem_hops=settings.stem_hops,
        send_interval=settings.send_interval,
        pool_bytes=settings.pool_size,
        pool_peer_share=settings.pool_peer_share,
        max_pow_time=settings.max_pow_time,
        seal_queue=settings.seal_queue,
        ratelimit=settings.ratelimit,
        ratelimit_packets=(settings.ratelimit_packets.rate, settings.ratelimit_packets.burst),
        ratelimit_bytes=(settings.ratelimit_bytes.rate, settings.ratelimit_bytes.burst),
        ratelimit_tolerance=settings.ratelimit_tolerance,
        ratelimit_exempt=settings.ratelimit_exempt,
        ratelimit_exempt_loopback=settings.ratelimit_exempt_loopback,
    )
    stats = NodeStats()  # counted always (hush_stats, hush top); exported with --metrics
    keys: PersistentKeyStore | None = None
    policy = dial_policy(settings)  # discovery's peer source, when discovery runs
    if settings.keystore:
        passphrase = _passphrase(settings)
        loop = asyncio.get_running_loop()
        keys = await loop.run_in_executor(
            None, PersistentKeyStore, settings.datadir / KEYSTORE_FILE, passphrase
        )
    archive = _archive_server(settings, stats)
    if archive is not None:
        await archive.start()
        node = Node(
            config,
            observers=[stats, archive.observer],
            keys=keys,
            mail_handler=archive.handle,
            peer_source=policy,
        )
    else:
        node = Node(config, observers=[stats], keys=keys, peer_source=policy)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    AcceptErrorLog().install(loop)  # one line a minute, not a traceback per failed accept()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    servers: list[RpcServer | MetricsServer] = []
    try:
        await node.start()
    except OSError as exc:
        flag = "--listen HOST:PORT (or --listen off)"
        raise _listen_error("devp2p", flag, settings.listen or ("", 0), exc) from None
    async with node, running_discovery(settings, node, policy):  # started: this stops them
        click.echo(f"enode: {node.enode}", err=False)
        if settings.listen and settings.listen[0] in ("0.0.0.0", "::") and settings.nat is None:
            click.echo(
                "note: listening on all interfaces; peers on other machines should use this "
                "machine's address in place of 127.0.0.1 (or start with --nat extip:IP)",
                err=True,
            )
        api = ShhApi(node, limits=api_limits(settings), stats=stats, archive=archive)
        endpoints: list[tuple[tuple[str, int], RpcConfig]] = []
        if settings.http and settings.http == settings.ws and settings.http[1] != 0:
            endpoints.append((settings.http, rpc_settings(settings)))
        else:
            if settings.http:
                endpoints.append((settings.http, rpc_settings(settings, ws=False)))
            if settings.ws:
                endpoints.append((settings.ws, rpc_settings(settings, http=False)))
        try:
            for (host, port), rpc_config in endpoints:
                server = RpcServer(node, rpc_config, api=api)
                try:
                    await server.start(host, port)
                except OSError as exc:
                    flag = "--http HOST:PORT" if rpc_config.http else "--ws HOST:PORT"
                    raise _listen_error("JSON-RPC", flag, (host, port), exc) from None
                servers.append(server)
                if rpc_config.http:
                    click.echo(f"http: {server.url}")
                if rpc_config.ws:
                    click.echo(f"ws: {server.url.replace('http://', 'ws://', 1)}")
            ipc = await _start_ipc(node, settings, api)
            if ipc is not None:
                servers.append(ipc)
                click.echo(f"ipc: {ipc.ipc_path}")
            if settings.metrics:
                servers.append(await _start_metrics(node, stats, settings, settings.metrics))
            sys.stdout.flush()
            await stop.wait()
            log.info("shutting down")
        finally:
            for running in servers:
                await running.stop()
    if archive is not None:
        await archive.stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signum)


def archive_password(settings: NodeSettings) -> str | None:
    """The archive password: `--archive-password-file` (its first line), `--archive-password`
    (or the TOML `archive-password`), else $HUSH_ARCHIVE_PASSWORD; None: requests only to the
    node key. Never logged."""
    if settings.archive_password_file is not None:
        if settings.archive_password is not None:
            raise UsageError("give --archive-password or --archive-password-file, not both")
        return read_secret_file(settings.archive_password_file, "archive password")
    if settings.archive_password is not None:
        return settings.archive_password
    return os.environ.get("HUSH_ARCHIVE_PASSWORD") or None


def _archive_server(settings: NodeSettings, stats: NodeStats) -> ArchiveServer | None:
    """The archive server `--archive` asks for (its store opened: errors are one line)."""
    if not settings.archive:
        return None
    config = ArchiveConfig(
        db_url=settings.archive_db,
        password=archive_password(settings),
        retention_days=settings.archive_retention_days,
        max_db_bytes=settings.archive_max_size,
    )
    store = open_store(config.db_url, settings.datadir)
    return ArchiveServer(store, config, stats=stats.archive)
