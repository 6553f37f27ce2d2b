"""Settings for `hush node`: the NodeSettings model, the TOML file, and merging flags over it.

Rules:
- A setting has one name: the NodeSettings field; its flag is `--field-name` and its TOML key is
  the same with dashes or underscores (`--peer` is the one flag named otherwise: key `peer` or
  `peers`). Flags given win over the file, the file over the defaults.
- Defaults are written once, in NodeConfig and the RPC configs (hush.node, hush.rpc); a flag's
  `[default: X]` help is read from here (`help_default`).
- Every value from a flag or the file is checked before anything starts: a wrong type, an unknown
  key or a bad address, size, rate or `--nat` is one UsageError line, never a traceback.
- No I/O but reading the config file; nothing here binds, logs or starts a node.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from hush.enode import host_port
from hush.errors import UsageError
from hush.metrics.stats import COMPAT as METRICS_COMPAT
from hush.node import NodeConfig
from hush.node.ratelimit_config import (
    DEFAULT_BYTES,
    DEFAULT_PACKETS,
    Rate,
    RateLimitMode,
    parse_mode,
    parse_rate,
)
from hush.rpc import RpcConfig
from hush.rpc.api import ApiLimits

__all__ = [
    "DEFAULT_IPC_NAME",
    "DEFAULT_LISTEN",
    "NodeSettings",
    "api_limits",
    "help_default",
    "ipc_path",
    "parse_address",
    "parse_size",
    "rpc_settings",
    "settings_from",
]


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
DEFAULT_IPC_NAME = "hush.ipc"
"""geth's `geth.ipc`, named for hush; in the data directory."""
DEFAULT_LISTEN = host_port(_NODE_DEFAULTS.listen_host, _NODE_DEFAULTS.listen_port)


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
    stem: bool = _NODE_DEFAULTS.stem
    stem_hops: bool = _NODE_DEFAULTS.stem_hops
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
    # Prometheus /metrics (hush.metrics; docs/metrics.md): off unless an address is given
    metrics: tuple[str, int] | None = None
    metrics_per_peer: bool = False
    metrics_compat: tuple[str, ...] = ()
    ipc: Path | None = None
    """The IPC socket (`--ipc`); a bare file name is in the datadir; None: `hush.ipc` there."""
    ipcdisable: bool = False
    """No IPC endpoint (`--ipcdisable`; wins over `--ipc`)."""
    # The archive ("mail") server (hush.archive.server.ArchiveConfig)
    archive: bool = False
    archive_db: str | None = None
    """`postgresql://…` or a SQLite path; None: archive.sqlite in the data directory."""
    archive_password: str | None = None
    """Prefer `archive_password_file` or $HUSH_ARCHIVE_PASSWORD: a flag is visible in `ps`."""
    archive_password_file: Path | None = None
    """Its first line is the password (`hush.cli.node_run.archive_password`)."""
    archive_retention_days: float = 30.0
    archive_max_size: int = 0
    bootnodes: tuple[str, ...] = ()
    """discv4 seeds (enode URLs); a fleet file's `boot` nodes are added."""
    nodiscover: bool = False
    """No discovery even with bootnodes."""
    discovery_port: int | None = None
    """UDP port of discovery (None: the devp2p port)."""
    fleet: Path | None = None
    """A fleet file `{boot, static, mail}` (hush.discovery.fleet)."""
    enr_shh: bool = False
    """Publish the hush-private `shh` ENR entry (`[6]`; discovery.md §3.3)."""
    enrtree: tuple[str, ...] = ()
    """EIP-1459 lists (`enrtree://KEY@DOMAIN`, read-only) synced over the system's DNS at start:
    their nodes seed discovery and are dial candidates. Turns discovery on."""


_SETTING_DEFAULTS: dict[str, Any] = {
    field.name: field.default for field in fields(NodeSettings) if field.default is not MISSING
}


def help_default(name: str) -> str:
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
    "archive_max_size": ((int, str), 'bytes, or a size such as "10GiB"'),
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
        listen_text = pick("listen", DEFAULT_LISTEN)
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
            stem=pick("stem") in (True, "on", "hops"),
            stem_hops=pick("stem") == "hops" or pick("stem_hops") is True,
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
            metrics=parse_address(pick("metrics")) if pick("metrics") else None,
            metrics_per_peer=bool(pick("metrics_per_peer")),
            metrics_compat=_metrics_compat(_split(pick("metrics_compat"))),
            ipc=Path(pick("ipc")) if pick("ipc") else None,
            ipcdisable=bool(pick("ipcdisable")),
            archive=bool(pick("archive")),
            archive_db=pick("archive_db"),
            archive_password=pick("archive_password"),
            archive_password_file=Path(pick("archive_password_file")).expanduser()
            if pick("archive_password_file")
            else None,
            archive_retention_days=float(pick("archive_retention_days")),
            archive_max_size=parse_size(pick("archive_max_size")),
            bootnodes=_split(pick("bootnodes")),
            nodiscover=bool(pick("nodiscover")),
            discovery_port=None if pick("discovery_port") is None else int(pick("discovery_port")),
            fleet=Path(pick("fleet")).expanduser() if pick("fleet") else None,
            enrtree=_split(pick("enrtree")),
            enr_shh=bool(pick("enr_shh")),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid setting: {exc}") from exc
    rpc_settings(settings)  # JSON-RPC settings: refused here, before anything starts
    api_limits(settings)
    return settings


def ipc_path(settings: NodeSettings) -> Path | None:
    """Where `hush node` serves IPC: geth's rule, a bare file name is in the data directory
    (`hush.ipc` by default), any other path is taken as given; None with `--ipcdisable`."""
    if settings.ipcdisable:
        return None
    path = settings.ipc or Path(DEFAULT_IPC_NAME)
    if path.name == str(path):
        return settings.datadir / path
    return path.expanduser()


def _default_datadir() -> Path:
    """NodeConfig's datadir, read when settings are made (HOME may differ from import time)."""
    datadir = NodeConfig().datadir
    assert datadir is not None  # NodeConfig's default is a path
    return datadir


def _metrics_compat(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(names) - METRICS_COMPAT)
    if unknown:
        raise UsageError(f"--metrics-compat {', '.join(unknown)}: hush knows 'status'")
    return names


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
