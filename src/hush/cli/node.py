"""`hush node`: run a Whisper v6 node, optionally with JSON-RPC over HTTP and WebSocket.

Every flag has a key of the same name (dashes or underscores) in `--config FILE.toml`; flags given
on the command line win. JSON-RPC over HTTP/WebSocket is off unless `--http`/`--ws` is given, and an
address given as a bare port binds loopback; JSON-RPC over IPC (a 0600 Unix socket in the datadir)
is on unless `--ipcdisable`. SIGINT and SIGTERM stop the node cleanly.

This module composes the command from its parts and is imported by none of them:
`hush.cli.node_settings` (the settings, the TOML file, parsing and merging) and
`hush.cli.node_run` (running a node, startup errors). It keeps the click options and logging
setup, and re-exports the parts' names that callers import from here.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from hush.cli.node_run import run_node
from hush.cli.node_settings import (
    DEFAULT_LISTEN,
    NodeSettings,
    api_limits,
    help_default,
    parse_address,
    parse_size,
    rpc_settings,
    settings_from,
)
from hush.net.limits import raise_open_file_limit
from hush.node.ratelimit_config import RateLimitMode

__all__ = [
    "NodeSettings",
    "api_limits",
    "command",
    "parse_address",
    "parse_size",
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


_PRINTED = frozenset(
    {"node started: %s", "JSON-RPC listening on %s (http=%s, ws=%s)", "JSON-RPC over IPC at %s"}
)
"""Log lines whose facts `hush node` prints on stdout (`enode:`, `http:`, `ws:`, `ipc:`): not
twice."""


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


@click.command(
    name="node",
    epilog="""\b
Examples:
  hush node --http 8545 --ws 8546                  # JSON-RPC on loopback (and ~/.hush/hush.ipc)
  hush node --ipc /run/user/1000/hush.ipc          # the IPC socket elsewhere; --ipcdisable: none
  hush node --datadir /tmp/b --listen 127.0.0.1:30304 --peer enode://…@127.0.0.1:30303
  hush node --config hush.toml --keystore --passphrase-file pass.txt
  hush node --http 8545 --metrics 9090             # Prometheus on 127.0.0.1:9090/metrics
  hush node --datadir /tmp/c --bootnodes enode://…@127.0.0.1:30301   # find peers by discovery
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
    help=f"devp2p listen address [default: {DEFAULT_LISTEN}]; 'off' to not listen.",
)
@click.option("--peer", "peers", multiple=True, metavar="ENODE", help="Static peer (repeatable).")
@click.option("--trusted", multiple=True, metavar="ENODE", help="Trusted peer (repeatable).")
@click.option("--max-peers", type=int, help=f"Most regular peers {help_default('max_peers')}.")
@click.option(
    "--max-pending-peers",
    type=int,
    help="Most inbound handshakes at once; more are closed at accept "
    f"{help_default('max_pending_peers')}.",
)
@click.option(
    "--max-peers-per-ip",
    type=int,
    help="Most inbound connections from one IP (loopback/LAN exempt) "
    f"{help_default('max_peers_per_ip')}.",
)
@click.option("--min-pow", type=float, help=f"Minimum PoW accepted {help_default('min_pow')}.")
@click.option(
    "--max-message-size",
    type=int,
    help=f"Largest envelope, bytes {help_default('max_message_size')}.",
)
@click.option("--light/--no-light", default=None, help="Run as a light client.")
@click.option(
    "--stem",
    type=click.Choice(["on", "off", "hops"]),
    help="Own envelopes go to one peer first, relayed after their echo or a ~2 s embargo "
    "(hides the sender from colluding peers); off: flood to every peer at once, as geth; "
    "hops: also a multi-hop stem among hush peers on the hushstem/1 capability [default: on].",
)
@click.option(
    "--nat",
    metavar="none|extip:IP",
    help="Address put in our enode: extip:IP advertises IP [default: none, the listen address].",
)
@click.option(
    "--send-interval",
    type=click.FloatRange(0),
    help=f"Least seconds between two batches to one peer {help_default('send_interval')}.",
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
    f"{help_default('pool_peer_share')}.",
)
@click.option(
    "--max-pow-time",
    type=float,
    help=f"Most seconds of proof of work one shh_post may ask for {help_default('max_pow_time')}.",
)
@click.option(
    "--seal-queue",
    type=int,
    help=f"Most posts being sealed or waiting to be, at once {help_default('seal_queue')}.",
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
    f"{help_default('ratelimit_tolerance')}.",
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
    "--metrics",
    metavar="HOST:PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone: loopback) "
    "[default: off].",
)
@click.option(
    "--metrics-per-peer/--no-metrics-per-peer",
    default=None,
    help="Also per-peer series (label peer; one per connected peer) [default: off].",
)
@click.option(
    "--metrics-compat",
    multiple=True,
    metavar="status",
    help="Also emit status-go's whisper_* and mailserver_* names, for their dashboards.",
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
    "--ipc",
    "--ipcpath",
    "ipc",
    is_flag=False,
    flag_value="",
    metavar="PATH",
    help="JSON-RPC over a Unix socket (mode 0600; every method and subscriptions), like "
    "geth.ipc; a bare file name is in the datadir [default: on, at <datadir>/hush.ipc, since "
    "hush node always has a data directory].",
)
@click.option(
    "--ipcdisable",
    is_flag=True,
    default=None,
    help="Serve no IPC socket (wins over --ipc).",
)
@click.option(
    "--rpc-batch-limit",
    type=int,
    help=f"Most calls in one batch {help_default('rpc_batch_limit')}.",
)
@click.option(
    "--rpc-max-connections",
    type=int,
    help=f"Open JSON-RPC connections at most {help_default('rpc_max_connections')}.",
)
@click.option(
    "--rpc-max-keys",
    type=int,
    help=f"Keys RPC clients may create, in all {help_default('rpc_max_keys')}.",
)
@click.option(
    "--rpc-max-filters",
    type=int,
    help=f"Polled filters, and subscriptions, at most each {help_default('rpc_max_filters')}.",
)
@click.option(
    "--keystore/--no-keystore",
    default=None,
    help="Persist keys in <datadir>/keystore.json, encrypted with a passphrase.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the keystore passphrase (else $HUSH_PASSPHRASE, else prompted).",
)
@click.option(
    "--bootnodes",
    multiple=True,
    metavar="ENODE[,ENODE…]",
    help="discv4 bootnodes (repeatable, or comma-separated); turns discovery on.",
)
@click.option("--nodiscover", is_flag=True, default=None, help="Don't run discovery.")
@click.option(
    "--discovery-port",
    type=click.IntRange(0, 65535),
    help="UDP port of discovery [default: the devp2p port]; turns discovery on (a bootnode).",
)
@click.option(
    "--fleet",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fleet file {boot, static, mail}: bootnodes, static peers, trusted mail servers.",
)
@click.option(
    "--enr-shh",
    is_flag=True,
    default=None,
    help="Publish a hush-private `shh` entry ([6]) in the node's ENR (no other client reads it).",
)
@click.option(
    "--enrtree",
    multiple=True,
    metavar="URL",
    help="EIP-1459 node list enrtree://KEY@DOMAIN (repeatable; read-only), fetched over the "
    "system's DNS at start; turns discovery on.",
)
@click.option(
    "--verbosity",
    type=click.IntRange(0, 5),
    help=f"0 silent … 3 info … 5 debug {help_default('verbosity')}.",
)
@click.option("--archive/--no-archive", default=None, help="Run an archive (mail) server.")
@click.option(
    "--archive-db", metavar="URL", help="postgresql://… or a SQLite file [default: in datadir]."
)
@click.option(
    "--archive-password",
    help="Password whose key requests may be encrypted with (visible in `ps`: prefer "
    "--archive-password-file or $HUSH_ARCHIVE_PASSWORD).",
)
@click.option(
    "--archive-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the archive password from the first line of this file.",
)
@click.option(
    "--archive-retention-days",
    type=float,
    help=f"Days envelopes are kept, 0: forever {help_default('archive_retention_days')}.",
)
@click.option("--archive-max-size", help="Drop the oldest beyond this size, e.g. 10GiB.")
def command(config_file: Path | None, **flags: Any) -> None:
    """Run a Whisper v6 node."""
    settings = settings_from(flags, config_file)
    _configure_logging(settings.verbosity)
    raised = raise_open_file_limit()  # as geth does; the p2p connection budget follows from it
    if raised is not None:
        log.info("raised the open-file limit from %d to %d", *raised)
    asyncio.run(run_node(settings))
