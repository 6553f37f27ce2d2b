"""Who is served: the Origin, Host and method allow-lists of the JSON-RPC endpoints.

- Origin (CORS, geth 1.9's rpc/http.go): a request carrying an `Origin` header is answered only
  if the origin is in the allow-list (`cors_domains` for HTTP, `ws_origins` for WebSocket
  upgrades; `*` allows all), and refused with 403 otherwise; requests without `Origin`
  (non-browser clients) are always served.
- Host allow-list (geth's --rpcvhosts, DNS-rebinding defence): a `Host` that is a name, not an IP,
  must be in `vhosts` (default `localhost`; `*` = any), else 403 `invalid host specified`. geth
  checks HTTP only; hush checks WebSocket upgrades too, which share the port.
- Method allow-list (geth's --rpcapi/--wsapi): `http_api`/`ws_api` name namespaces (`shh`) or
  single methods (`shh_getSymKey`); others answer geth's -32601 `does not exist/is not available`.
  The default (None) serves every namespace on loopback; beyond loopback it is `shh,net,web3`
  without the key-export methods, which are then served only when named explicitly. `rpc_modules`
  lists what is served, and the `rpc` namespace is always served (as in geth).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Sequence

from hush.errors import UsageError
from hush.rpc.config import DEFAULT_API
from hush.rpc.keys import KEY_EXPORT_METHODS

__all__ = ["enabled_methods", "host_allowed", "is_loopback", "origin_allowed"]

_ALWAYS = "rpc"


def origin_allowed(origin: str, allow_list: Sequence[str]) -> bool:
    """A browser's `Origin` against a CORS allow-list: `*`, or a listed origin (any case)."""
    return "*" in allow_list or origin.rstrip("/").lower() in (
        entry.rstrip("/").lower() for entry in allow_list
    )


def host_allowed(host: str | None, vhosts: Sequence[str]) -> bool:
    """geth's virtualHostHandler: no Host, an IP address, `*` or a listed name is served."""
    if not host:
        return True
    name = host
    if name.startswith("["):  # [v6]:port
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name)
        return True
    return "*" in vhosts or name.lower() in (entry.lower() for entry in vhosts)


def is_loopback(host: str) -> bool:
    """Whether a listen address stays on this machine (a name may resolve anywhere: no)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def enabled_methods(
    names: Iterable[str], api: Sequence[str] | None, *, public: bool
) -> frozenset[str]:
    """The methods an endpoint serves (see the module docstring); UsageError for unknown
    entries."""
    names = frozenset(names)
    if api is None:
        if not public:
            return names
        api = DEFAULT_API
    namespaces = {name.partition("_")[0] for name in names}
    wanted = {entry.strip() for entry in api if entry.strip()}
    unknown = sorted(wanted - namespaces - names)
    if unknown:
        raise UsageError(f"unknown RPC namespace or method: {', '.join(unknown)}")
    served = set()
    for name in names:
        namespace = name.partition("_")[0]
        named = name in wanted or namespace == _ALWAYS
        exported = public and name in KEY_EXPORT_METHODS  # beyond loopback: only when named
        if named or (namespace in wanted and not exported):
            served.add(name)
    return frozenset(served)
