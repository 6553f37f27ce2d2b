"""`hush node`: run a Whisper v6 node, optionally with JSON-RPC over HTTP and WebSocket.

Every flag has a key of the same name (dashes or underscores) in `--config FILE.toml`; flags given
on the command line win. JSON-RPC is off unless `--http`/`--ws` is given, and an address given as a
bare port binds loopback. SIGINT and SIGTERM stop the node cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import signal
import socket
import sys
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import click

from hush.enode import host_port
from hush.errors import UsageError
from hush.net.limits import AcceptErrorLog, raise_open_file_limit
from hush.node import Node, NodeConfig
from hush.node.keyfile import KEYSTORE_FILE, PersistentKeyStore
from hush.node.ratelimit import (
    DEFAULT_BYTES,
    DEFAULT_PACKETS,
    Rate,
    RateLimitMode,
    parse_mode,
    parse_rate,
)
from hush.rpc import RpcConfig, RpcServer, ShhApi
from hush.rpc.api import ApiLimits

__all__ = [
    "NodeSettings",
    "api_limits",
    "command",
    "parse_address",
    "rpc_settings",
    "run_node",
    "settings_from",
]

log = logging.getLogger("hush.cli.node")

_VERBOSITY = {
    0: logging.CRITICAL + 1,
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
    5: logging.DEBUG,
}


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `PORT` (then on `default_host`)."""
    host, sep, port = str(text).rpartition(":")
    if not sep:
        host, port = default_host, str(text)
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise UsageError(f"invalid address {text!r}: expected HOST:PORT")
    return host, int(port)


_NODE_DEFAULTS = NodeConfig(datadir=None)
_RPC_DEFAULTS = RpcConfig()
_API_DEFAULTS = ApiLimits()
_DEFAULT_LISTEN = host_port(_NODE_DEFAULTS.listen_host, _NODE_DEFAULTS.listen_port)


@dataclass(frozen=True, slots=True)
class NodeSettings:
    datadir: Path
    listen: tuple[str, int] | None
    peers: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()
    max_peers: int = _NODE_DEFAULTS.max_peers
    max_pending_peers: int = _NODE_DEFAULTS.max_pending_peers
    max_peers_per_ip: int = _NODE_DEFAULTS.max_peers_per_ip
    min_pow: float = _NODE_DEFAULTS.min_pow
    max_message_size: int = _NODE_DEFAULTS.max_message_size
    light: bool = _NODE_DEFAULTS.light
    send_interval: float = _NODE_DEFAULTS.send_interval
    pool_size: int = _NODE_DEFAULTS.pool_bytes
    pool_peer_share: float = _NODE_DEFAULTS.pool_peer_share
    max_pow_time: float = _NODE_DEFAULTS.max_pow_time
    seal_queue: int = _NODE_DEFAULTS.seal_queue
    ratelimit: RateLimitMode = _NODE_DEFAULTS.ratelimit
    ratelimit_packets: Rate = DEFAULT_PACKETS
    ratelimit_bytes: Rate = DEFAULT_BYTES
    ratelimit_tolerance: int = _NODE_DEFAULTS.ratelimit_tolerance
    ratelimit_exempt: tuple[str, ...] = ()
    ratelimit_exempt_loopback: bool = _NODE_DEFAULTS.ratelimit_exempt_loopback
    http: tuple[str, int] | None = None
    ws: tuple[str, int] | None = None
    http_corsdomain: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    # JSON-RPC exposure and limits (hush.rpc.config: RpcConfig, ApiLimits)
    http_vhosts: tuple[str, ...] = _RPC_DEFAULTS.vhosts
    http_api: tuple[str, ...] | None = None
    ws_api: tuple[str, ...] | None = None
    rpc_batch_limit: int = _RPC_DEFAULTS.max_batch
    rpc_max_connections: int = _RPC_DEFAULTS.max_connections
    rpc_max_keys: int = _API_DEFAULTS.max_keys
    rpc_max_filters: int = _API_DEFAULTS.max_filters
    keystore: bool = False
    passphrase_file: Path | None = None
    verbosity: int = 3
    nat: str | None = None
    """The IP to advertise (`--nat extip:IP`); None for `--nat none` (the listen address)."""


_SETTING_DEFAULTS: dict[str, Any] = {
    field.name: field.default for field in fields(NodeSettings) if field.default is not MISSING
}


def _default(name: str) -> str:
    """`[default: X]` for a flag's help, from the setting's default (written once, in NodeConfig
    or the RPC configs)."""
    value = _SETTING_DEFAULTS[name]
    return f"[default: {value:g}]" if isinstance(value, float) else f"[default: {value}]"


_TOML_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "Path": ((str,), "a path"),
    "Path | None": ((str,), "a path"),
    "tuple[str, ...]": ((str, list), "a string or a list of strings"),
    "tuple[str, int] | None": ((str, int), "HOST:PORT or a port"),
}
_TOML_SIZES: dict[str, tuple[tuple[type, ...], str]] = {
    "pool_size": ((int, str), 'bytes, or a size such as "256MiB"'),
}


def _check_file_value(config_file: Path, key: str, value: Any) -> None:
    """A TOML value of the type its setting takes (the setting's annotation says which)."""
    kind = _TOML_SIZES.get(key) or _TOML_KINDS.get(str(NodeSettings.__dataclass_fields__[key].type))
    if kind is None:
        return
    types, what = kind
    ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if ok and isinstance(value, list):
        ok = all(isinstance(item, str) for item in value)
    if not ok:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
        raise UsageError(f"config {config_file}: {key}: expected {what}, got {shown}")


_SIZE_SUFFIXES: tuple[tuple[str, int], ...] = (
    *(("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30)),
    *(("kb", 10**3), ("mb", 10**6), ("gb", 10**9), ("k", 10**3), ("m", 10**6), ("g", 10**9)),
)


def parse_size(value: Any) -> int:
    """A byte count: an integer, or a number with a suffix (`256MiB`, `1.5GiB`, `500k`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    body, factor = str(value).strip().lower(), 1
    for suffix, size in _SIZE_SUFFIXES:
        if body.endswith(suffix):
            body, factor = body[: -len(suffix)], size
            break
    try:
        return int(float(body) * factor)
    except (ValueError, OverflowError):
        raise UsageError(
            f"invalid size {value!r}: expected bytes, e.g. 268435456 or 256MiB"
        ) from None


def _split(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(part.strip() for item in items for part in str(item).split(",") if part.strip())


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer, not {value!r}")
    return int(value)


def rpc_settings(settings: NodeSettings, *, http: bool = True, ws: bool = True) -> RpcConfig:
    """The JSON-RPC server settings; UsageError for invalid ones."""
    return RpcConfig(
        http=http,
        ws=ws,
        cors_domains=settings.http_corsdomain,
        ws_origins=settings.ws_origins,
        vhosts=settings.http_vhosts,
        http_api=settings.http_api,
        ws_api=settings.ws_api,
        max_batch=settings.rpc_batch_limit,
        max_connections=settings.rpc_max_connections,
    )


def api_limits(settings: NodeSettings) -> ApiLimits:
    return ApiLimits(
        max_keys=settings.rpc_max_keys,
        max_filters=settings.rpc_max_filters,
        max_subscriptions=settings.rpc_max_filters,
    )


def settings_from(flags: dict[str, Any], config_file: Path | None) -> NodeSettings:
    """Merge flags (None/empty = not given) over the TOML file over the defaults."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read config {config_file}: {exc}") from exc
        file_values = {key.replace("-", "_"): value for key, value in raw.items()}
        known = set(NodeSettings.__dataclass_fields__) | {"peer"}
        unknown = sorted(set(file_values) - known)
        if unknown:
            raise UsageError(f"config {config_file}: unknown setting(s): {', '.join(unknown)}")
        if "peer" in file_values:
            file_values["peers"] = file_values.pop("peer")
        for key, value in file_values.items():
            _check_file_value(config_file, key, value)

    def pick(name: str, default: Any = None) -> Any:
        """The flag, else the file's value, else `default` (if given) or the setting's default."""
        value = flags.get(name)
        if value is not None and value != ():
            return value
        if default is None:
            default = _SETTING_DEFAULTS.get(name)
        return file_values.get(name, default)

    try:
        listen_text = pick("listen", _DEFAULT_LISTEN)
        http, ws = pick("http"), pick("ws")
        passphrase_file = pick("passphrase_file")
        settings = NodeSettings(
            datadir=Path(pick("datadir") or _default_datadir()).expanduser(),
            listen=None
            if str(listen_text) in ("", "off", "none")
            else parse_address(listen_text, "0.0.0.0"),
            peers=_split(pick("peers")),
            trusted=_split(pick("trusted")),
            max_peers=int(pick("max_peers")),
            max_pending_peers=int(pick("max_pending_peers")),
            max_peers_per_ip=int(pick("max_peers_per_ip")),
            min_pow=float(pick("min_pow")),
            max_message_size=int(pick("max_message_size")),
            light=bool(pick("light")),
            send_interval=float(pick("send_interval")),
            pool_size=parse_size(pick("pool_size")),
            pool_peer_share=float(pick("pool_peer_share")),
            max_pow_time=float(pick("max_pow_time")),
            seal_queue=_int(pick("seal_queue")),
            ratelimit=parse_mode(pick("ratelimit")),
            ratelimit_packets=parse_rate(pick("ratelimit_packets"), 3),
            ratelimit_bytes=parse_rate(pick("ratelimit_bytes"), 4),
            ratelimit_tolerance=int(pick("ratelimit_tolerance")),
            ratelimit_exempt=_split(pick("ratelimit_exempt")),
            ratelimit_exempt_loopback=pick("ratelimit_exempt_loopback"),
            http=parse_address(http) if http else None,
            ws=parse_address(ws) if ws else None,
            http_corsdomain=_split(pick("http_corsdomain")),
            ws_origins=_split(pick("ws_origins")),
            http_vhosts=_split(pick("http_vhosts")) or _RPC_DEFAULTS.vhosts,
            http_api=_split(pick("http_api")) or None,
            ws_api=_split(pick("ws_api")) or None,
            rpc_batch_limit=_int(pick("rpc_batch_limit")),
            rpc_max_connections=_int(pick("rpc_max_connections")),
            rpc_max_keys=_int(pick("rpc_max_keys")),
            rpc_max_filters=_int(pick("rpc_max_filters")),
            keystore=bool(pick("keystore")),
            passphrase_file=Path(passphrase_file).expanduser() if passphrase_file else None,
            verbosity=int(pick("verbosity")),
            nat=_nat(pick("nat", "none")),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid setting: {exc}") from exc
    rpc_settings(settings)  # JSON-RPC settings: refused here, before anything starts
    api_limits(settings)
    return settings


def _default_datadir() -> Path:
    """NodeConfig's datadir, read when settings are made (HOME may differ from import time)."""
    datadir = NodeConfig().datadir
    assert datadir is not None  # NodeConfig's default is a path
    return datadir


def _nat(text: str) -> str | None:
    """geth's `--nat` forms that need no network service: `none` and `extip:IP`."""
    kind, _, value = str(text).strip().partition(":")
    if kind.lower() == "none" and not value:
        return None
    if kind.lower() == "extip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise UsageError(f"--nat extip:IP: {value!r} is not an IP address") from None
    raise UsageError(f"--nat {text!r}: hush supports 'none' and 'extip:IP' (no UPnP/NAT-PMP)")


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
    if not sys.stdin.isatty():
        raise UsageError("--keystore needs --passphrase-file when stdin is not a terminal")
    passphrase: str = click.prompt("keystore passphrase", hide_input=True, err=True)
    return passphrase


_PRINTED = frozenset({"node started: %s", "JSON-RPC listening on %s (http=%s, ws=%s)"})
"""Log lines whose facts `hush node` prints on stdout (`enode:`, `http:`, `ws:`): not twice."""


def _configure_logging(verbosity: int) -> None:
    level = _VERBOSITY.get(max(0, min(5, verbosity)), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(lambda record: record.msg not in _PRINTED)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


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


async def run_node(settings: NodeSettings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set, or SIGINT/SIGTERM."""
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
    node = Node(config)
    if settings.keystore:
        passphrase = _passphrase(settings)
        loop = asyncio.get_running_loop()
        node.keys = await loop.run_in_executor(
            None, PersistentKeyStore, settings.datadir / KEYSTORE_FILE, passphrase
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    AcceptErrorLog().install(loop)  # one line a minute, not a traceback per failed accept()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    servers: list[RpcServer] = []
    try:
        await node.start()
    except OSError as exc:
        flag = "--listen HOST:PORT (or --listen off)"
        raise _listen_error("devp2p", flag, settings.listen or ("", 0), exc) from None
    async with node:  # started: this stops it
        click.echo(f"enode: {node.enode}", err=False)
        if settings.listen and settings.listen[0] in ("0.0.0.0", "::") and settings.nat is None:
            click.echo(
                "note: listening on all interfaces; peers on other machines should use this "
                "machine's address in place of 127.0.0.1 (or start with --nat extip:IP)",
                err=True,
            )
        api = ShhApi(node, limits=api_limits(settings))
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
            sys.stdout.flush()
            await stop.wait()
            log.info("shutting down")
        finally:
            for server in servers:
                await server.stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signum)


@click.command(
    name="node",
    epilog="""\b
Examples:
  hush node --http 8545 --ws 8546                  # JSON-RPC on loopback
  hush node --datadir /tmp/b --listen 127.0.0.1:30304 --peer enode://…@127.0.0.1:30303
  hush node --config hush.toml --keystore --passphrase-file pass.txt
""",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with any of these settings (flags override it).",
)
@click.option(
    "--datadir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Node key and keystore directory [default: ~/.hush].",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help=f"devp2p listen address [default: {_DEFAULT_LISTEN}]; 'off' to not listen.",
)
@click.option("--peer", "peers", multiple=True, metavar="ENODE", help="Static peer (repeatable).")
@click.option("--trusted", multiple=True, metavar="ENODE", help="Trusted peer (repeatable).")
@click.option("--max-peers", type=int, help=f"Most regular peers {_default('max_peers')}.")
@click.option(
    "--max-pending-peers",
    type=int,
    help="Most inbound handshakes at once; more are closed at accept "
    f"{_default('max_pending_peers')}.",
)
@click.option(
    "--max-peers-per-ip",
    type=int,
    help="Most inbound connections from one IP (loopback/LAN exempt) "
    f"{_default('max_peers_per_ip')}.",
)
@click.option("--min-pow", type=float, help=f"Minimum PoW accepted {_default('min_pow')}.")
@click.option(
    "--max-message-size", type=int, help=f"Largest envelope, bytes {_default('max_message_size')}."
)
@click.option("--light/--no-light", default=None, help="Run as a light client.")
@click.option(
    "--nat",
    metavar="none|extip:IP",
    help="Address put in our enode: extip:IP advertises IP [default: none, the listen address].",
)
@click.option(
    "--send-interval",
    type=click.FloatRange(0),
    help=f"Least seconds between two batches to one peer {_default('send_interval')}.",
)
@click.option(
    "--pool-size",
    metavar="BYTES",
    help="Most memory the envelope pool takes, as accounted per envelope (suffixes KiB, MiB, "
    "GiB) [default: 256MiB].",
)
@click.option(
    "--pool-peer-share",
    type=float,
    help="Share of the pool one peer's envelopes may take, 0 < share ≤ 1 "
    f"{_default('pool_peer_share')}.",
)
@click.option(
    "--max-pow-time",
    type=float,
    help=f"Most seconds of proof of work one shh_post may ask for {_default('max_pow_time')}.",
)
@click.option(
    "--seal-queue",
    type=int,
    help=f"Most posts being sealed or waiting to be, at once {_default('seal_queue')}.",
)
@click.option(
    "--ratelimit",
    type=click.Choice([mode.value for mode in RateLimitMode]),
    help="Incoming shh rate limits per peer and IP: observe counts and logs, enforce drops "
    "excess envelopes and disconnects repeat offenders [default: observe].",
)
@click.option(
    "--ratelimit-packets",
    metavar="RATE[:BURST]",
    help="shh packets per second and burst, per peer and per IP [default: 50:150].",
)
@click.option(
    "--ratelimit-bytes",
    metavar="RATE[:BURST]",
    help="shh bytes per second and burst, per peer and per IP (KiB, MiB) [default: 1MiB:4MiB].",
)
@click.option(
    "--ratelimit-tolerance",
    type=click.IntRange(0),
    help="Exceedances within 60 s before enforce mode disconnects; 0: never "
    f"{_default('ratelimit_tolerance')}.",
)
@click.option(
    "--ratelimit-exempt",
    multiple=True,
    metavar="IP|ENODE",
    help="Never rate limited, besides static and trusted peers (repeatable, comma list).",
)
@click.option(
    "--ratelimit-exempt-loopback/--no-ratelimit-exempt-loopback",
    default=None,
    help="Leave peers on loopback addresses unlimited [default: on].",
)
@click.option(
    "--http", metavar="HOST:PORT", help="Serve JSON-RPC over HTTP (PORT alone: loopback)."
)
@click.option(
    "--ws", metavar="HOST:PORT", help="Serve JSON-RPC over WebSocket (PORT alone: loopback)."
)
@click.option(
    "--http-corsdomain", multiple=True, help="Origins allowed over HTTP (comma list, '*')."
)
@click.option(
    "--ws-origins", multiple=True, help="Origins allowed over WebSocket (comma list, '*')."
)
@click.option(
    "--http-vhosts",
    multiple=True,
    help="Host names served over HTTP/WS (comma list, '*'; IPs always) [default: localhost].",
)
@click.option(
    "--http-api",
    multiple=True,
    help="Namespaces or methods served over HTTP (comma list) [default: all on loopback, "
    "else shh,net,web3 without key export].",
)
@click.option("--ws-api", multiple=True, help="The same for WebSocket.")
@click.option(
    "--rpc-batch-limit", type=int, help=f"Most calls in one batch {_default('rpc_batch_limit')}."
)
@click.option(
    "--rpc-max-connections",
    type=int,
    help=f"Open JSON-RPC connections at most {_default('rpc_max_connections')}.",
)
@click.option(
    "--rpc-max-keys",
    type=int,
    help=f"Keys RPC clients may create, in all {_default('rpc_max_keys')}.",
)
@click.option(
    "--rpc-max-filters",
    type=int,
    help=f"Polled filters, and subscriptions, at most each {_default('rpc_max_filters')}.",
)
@click.option(
    "--keystore/--no-keystore",
    default=None,
    help="Persist keys in <datadir>/keystore.json, encrypted with a passphrase.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the keystore passphrase (else prompted).",
)
@click.option(
    "--verbosity",
    type=click.IntRange(0, 5),
    help=f"0 silent … 3 info … 5 debug {_default('verbosity')}.",
)
def command(config_file: Path | None, **flags: Any) -> None:
    """Run a Whisper v6 node."""
    settings = settings_from(flags, config_file)
    _configure_logging(settings.verbosity)
    raised = raise_open_file_limit()  # as geth does; the p2p connection budget follows from it
    if raised is not None:
        log.info("raised the open-file limit from %d to %d", *raised)
    asyncio.run(run_node(settings))
