"""The layering is enforced, not hoped for (style.md "pure cores"; issue 8 "Tests").

The pure cores — `hush.rlp`, `hush.crypto`, `hush.shh`, `hush.rlpx` and `hush.discovery` — touch no socket, clock,
logger, thread or global RNG: time comes in as `now`, randomness as an injected `random_bytes`.
Each core imports only the cores below it (`shh` never imports `rlpx`: the node hands shh
payloads between them). Imports are read with `ast` from the source files, wherever they stand —
inside a function, a `try` or `if TYPE_CHECKING` — so a lazy import cannot slip past, and the
dynamic forms (`importlib`, `__import__`) are refused outright. No exception is needed today.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import hush

SRC = Path(hush.__file__).parent

FORBIDDEN = frozenset(
    {
        # I/O, event loops and processes: the shell's business
        "asyncio",
        "concurrent",
        "multiprocessing",
        "selectors",
        "signal",
        "socket",
        "ssl",
        "subprocess",
        "threading",
        # clocks: `now` is passed in
        "datetime",
        "time",
        # global randomness and the OS: `random_bytes` is injected (os.urandom included)
        "os",
        "random",
        "secrets",
        # cores don't log
        "logging",
        # dynamic imports would hide what is imported
        "importlib",
        # the shell's and applications' third-party libraries
        "aiohttp",
        "click",
        "rich",
    }
)
"""Top-level modules no core may import."""

CORES: dict[str, frozenset[str]] = {
    "hush.rlp": frozenset({"hush.errors"}),
    "hush.crypto": frozenset({"hush.errors", "hush.types", "hush.crypto"}),
    "hush.shh": frozenset(
        {"hush.errors", "hush.types", "hush.randomness", "hush.rlp", "hush.crypto", "hush.shh"}
    ),
    "hush.rlpx": frozenset({"hush.errors", "hush.types", "hush.rlp", "hush.crypto", "hush.rlpx"}),
    "hush.discovery": frozenset(
        {"hush.errors", "hush.types", "hush.rlp", "hush.crypto", "hush.enode", "hush.discovery"}
    ),
}
"""Each core and the hush modules (and their submodules) it may import; `hush` itself (the
version constants) is open to all."""


def _is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the text of `module`) imports, relative imports resolved, plus
    `__import__` for a call of it."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # `from hush import rlp` imports the module hush.rlp
                if target.startswith("hush") and _is_module(f"{target}.{alias.name}"):
                    found.add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Name) and node.id == "__import__":
            found.add("__import__")
    return found


def violations(module: str, imports: set[str]) -> list[str]:
    """What `module`, a core or part of one, must not import."""
    core = next(name for name in CORES if module == name or module.startswith(name + "."))
    allowed = CORES[core]

    def allowed_here(name: str) -> bool:
        if name == "__import__" or name.partition(".")[0] in FORBIDDEN:
            return False
        if name.startswith("hush."):
            return any(name == ok or name.startswith(ok + ".") for ok in allowed)
        return True

    return [name for name in sorted(imports) if not allowed_here(name)]


def _core_files() -> list[tuple[str, Path]]:
    files = [("hush.rlp", SRC / "rlp.py")]
    for core in ("crypto", "shh", "rlpx", "discovery"):
        for path in sorted((SRC / core).rglob("*.py")):
            parts = path.relative_to(SRC.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files.append((name, path))
    return files


CORE_FILES = _core_files()


@pytest.mark.parametrize(("module", "path"), CORE_FILES, ids=[m for m, _ in CORE_FILES])
def test_core_imports_stay_in_their_layer(module: str, path: Path) -> None:
    imports = imported_modules(
        path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
    )
    assert violations(module, imports) == []


def test_every_core_file_is_checked() -> None:
    names = {module for module, _ in CORE_FILES}
    assert {"hush.rlp", "hush.crypto.keys", "hush.shh.pool", "hush.shh.peer"} <= names
    assert {"hush.rlpx.connection", "hush.rlpx.handshake", "hush.shh"} <= names
    assert len(CORE_FILES) >= 19


LAZY = """
import hashlib
from hush.shh.envelope import Envelope

def later():
    import os.path
    from time import monotonic
    from hush import rlpx
    from ..net import peer
    return __import__("socket")

try:
    import logging
except ImportError:
    pass
"""


def test_the_check_catches_lazy_relative_and_dynamic_imports() -> None:
    """The checker itself can fail: a core file with imports hidden every which way."""
    imports = imported_modules(LAZY, "hush.shh.sample")
    assert violations("hush.shh.sample", imports) == [
        "__import__",
        "hush.net",
        "hush.net.peer",
        "hush.rlpx",
        "logging",
        "os.path",
        "time",
    ]


@pytest.mark.parametrize("package", ["hush.crypto", "hush.shh", "hush.rlpx"])
def test_package_surface_is_declared(package: str) -> None:
    """Each core package names its public surface in `__all__`, and every name resolves."""
    imported = importlib.import_module(package)
    names = imported.__all__
    assert names and len(set(names)) == len(names)
    for name in names:
        assert hasattr(imported, name), f"{package}.{name}"
