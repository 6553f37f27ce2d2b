"""Facades compose parts; parts never import their facade (style.md "Composing a facade").

`hush.rpc.server` composes the server's parts, `hush.rpc.api` the method tables,
`hush.cli.client` the client commands, `hush.cli.node` the `hush node` command and
`hush.node.node` the node (registry, session, pool keeper, posting, delivery, ...). A part
importing its facade would tie the split back into one circle of files, so every module in the
facade's package is read with `ast` and must not import it; only the facades themselves, the
package's `__init__` (which re-exports) and `hush.cli.main` (which sits above) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hush

SRC = Path(hush.__file__).parent

FACADES = {
    "rpc": ("hush.rpc.server", "hush.rpc.api"),
    "cli": ("hush.cli.client", "hush.cli.node"),
    "node": ("hush.node.node",),
}
ABOVE = frozenset({"hush.cli.main"})
"""Modules that sit above the facades and use them (`hush` the command)."""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


PARTS = [
    (path, facade)
    for package, facades in FACADES.items()
    for path in sorted((SRC / package).glob("*.py"))
    for facade in facades
    if path.name != "__init__.py"
    and f"hush.{package}.{path.stem}" not in {*FACADES[package], *ABOVE}
]


@pytest.mark.parametrize(
    ("path", "facade"), PARTS, ids=[f"{p.parent.name}/{p.name}-{f}" for p, f in PARTS]
)
def test_part_does_not_import_its_facade(path: Path, facade: str) -> None:
    assert facade not in _imports(path), f"{path.name} imports {facade}"


def test_the_facades_exist() -> None:
    for facades in FACADES.values():
        for facade in facades:
            assert (SRC / Path(*facade.split(".")[1:])).with_suffix(".py").is_file()


SPLIT_PARTS = {
    "hush.sealer": ("seal_queue.py", "seal_runners.py", "seal_workers.py"),
    "hush.net.peer": tuple(
        f"net/{name}.py" for name in ("connection", "handshake", "dialer", "listener", "slots")
    ),
}
"""Files split out of a module that now composes (`hush.sealer`) or re-exports (`hush.net.peer`)
them; `hush.net` is the package that re-exports the net parts."""


@pytest.mark.parametrize(
    ("part", "whole"),
    [(part, whole) for whole, parts in SPLIT_PARTS.items() for part in parts],
)
def test_split_part_does_not_import_what_it_was_split_from(part: str, whole: str) -> None:
    imported = _imports(SRC / part)
    assert {whole, "hush.net"}.isdisjoint(imported), f"{part} imports {whole} or hush.net"


NODE_PARTS = sorted(p for p in (SRC / "node").glob("*.py") if p.stem not in ("__init__", "node"))


@pytest.mark.parametrize("path", NODE_PARTS, ids=[p.name for p in NODE_PARTS])
def test_node_part_does_not_import_the_node_package(path: Path) -> None:
    """`hush.node` re-exports the facade: a part importing it imports the facade."""
    imported = _imports(path)
    assert not any(name == "hush.node" or name.startswith("hush.node.node") for name in imported)
    assert not any(name.startswith(("hush.rpc", "hush.cli")) for name in imported)  # above


def test_node_parts_exist() -> None:
    names = {p.stem for p in NODE_PARTS}
    assert {"registry", "session", "pool_keeper", "posting", "delivery", "tasks"} <= names
