"""Real databases for the archive tests: SQLite in a temp dir, and a throwaway PostgreSQL server
started here (initdb into a temp dir, a unix socket only, no TCP) — or the one named by
HUSH_TEST_POSTGRES_URL. Without PostgreSQL binaries the PostgreSQL cases skip, except in CI
(CI=true), where they fail: `.ci/run` installs PostgreSQL."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from hush.archive.store import SqlStore, open_store


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("HUSH_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        _missing("no initdb/pg_ctl on this machine")
        return
    base = Path(tempfile.mkdtemp(prefix="hushpg-"))
    user: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if user is None:
            _missing("running as root and no unprivileged user to run PostgreSQL")
            return
        os.chown(base, user.pw_uid, user.pw_gid)

    def run(*args: str) -> None:
        def drop() -> None:
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        subprocess.run(args, check=True, capture_output=True, preexec_fn=drop, timeout=60)

    data = base / "data"
    run(initdb, "-D", str(data), "-A", "trust", "-U", "hush", "-E", "UTF8", "--no-sync")
    options = f"-k {base} -c listen_addresses= -c fsync=off -c max_connections=50"
    run(pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://hush@/postgres?host={base}"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _drop_pg_tables(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS envelopes, archive_stats, archive_topics CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store, once per backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "archive.sqlite")
        return
    url: str = request.getfixturevalue("postgres_url")
    _drop_pg_tables(url)
    yield url
    _drop_pg_tables(url)


@pytest.fixture
def second_store_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty store on the same backend, for a second archive server (PostgreSQL: a
    second database on the same server)."""
    if not store_url.startswith("postgresql"):
        yield str(tmp_path / "archive-b.sqlite")
        return
    import psycopg

    with psycopg.connect(store_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'hush_b'").fetchone() is None:
            conn.execute("CREATE DATABASE hush_b")
    url = urlunsplit(urlsplit(store_url)._replace(path="/hush_b"))
    _drop_pg_tables(url)
    yield url
    _drop_pg_tables(url)


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[], SqlStore]]:
    """Opens stores on the same database (several: as a restarted server would)."""
    opened: list[SqlStore] = []

    def make() -> SqlStore:
        store = open_store(store_url, None)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
