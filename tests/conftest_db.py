"""Database fixtures (a pytest plugin: ``pytest_plugins = ["tests.conftest_db"]``).

- ``db_url``: a fresh, empty database per test, on SQLite (a temp file) and on PostgreSQL
  (marked ``postgres``; the cluster is started once per session by
  ``scripts/start-postgres``, each test gets its own database, dropped afterwards).
- ``migrated_url``: the same, upgraded to the head migration.
- ``ledger``: a Ledger on it with a simulated node of 8 devices (two rings of 4) and an
  Ascend 910B node of 8.
- ``fake_clock``: moves ``npuhub.hub.clock.utcnow`` by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_PREFIX = "npuhub_test_"
SIM_RINGS = ((0, 1, 2, 3), (4, 5, 6, 7))


# ---------------------------------------------------------------- PostgreSQL


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _admin_engine(base_url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _drop(base_url: str, names: list[str]) -> None:
    """Drop the test databases. FORCE ends the test's own connections; PostgreSQL's
    autovacuum may be at work on a fresh database, and only a superuser may end that one:
    wait for it to finish instead (a few tries)."""
    import time

    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    engine = _admin_engine(base_url)
    try:
        with engine.connect() as conn:
            for name in names:
                for attempt in range(20):
                    try:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        break
                    except ProgrammingError as e:
                        if "pg_signal_backend" not in str(e) or attempt == 19:
                            raise
                        time.sleep(0.5)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test role's own database (started once; stale test databases of dead
    test sessions are dropped)."""
    from sqlalchemy import text

    proc = subprocess.run(
        [str(ROOT / "scripts" / "start-postgres")], capture_output=True, text=True, timeout=180
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/start-postgres failed:\n{proc.stdout}\n{proc.stderr}")
    base = proc.stdout.strip().splitlines()[-1]
    engine = _admin_engine(base)
    try:
        with engine.connect() as conn:
            names = (
                conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": PG_PREFIX + "%"},
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    stale = []
    for name in names:
        m = re.match(rf"{PG_PREFIX}(\d+)_", name)
        if m and not _pid_alive(int(m.group(1))):
            stale.append(name)
    _drop(base, stale)
    yield base


@contextmanager
def postgres_database(base_url: str):
    """A new database for the test role; dropped (even with connections open) at exit."""
    from sqlalchemy import text

    name = f"{PG_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine(base_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            # a test database need not survive a crash: commits without waiting for fsync
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        engine.dispose()
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        _drop(base_url, [name])


@contextmanager
def sqlite_database(folder: Path):
    path = folder / f"npuhub-{uuid.uuid4().hex[:8]}.sqlite"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def fresh_database(backend: str, request, tmp_path: Path):
    """An empty database of `backend` ("sqlite" or "postgres")."""
    if backend == "postgres":
        with postgres_database(request.getfixturevalue("postgres_url")) as url:
            yield url
    else:
        with sqlite_database(tmp_path) as url:
            yield url


DB_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=DB_PARAMS)
def db_backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(db_backend, request, tmp_path) -> str:
    """A fresh empty database (SQLite file, or a PostgreSQL database of its own)."""
    with fresh_database(db_backend, request, tmp_path) as url:
        yield url


@pytest.fixture
def migrated_url(db_url) -> str:
    from npuhub.hub import db

    db.upgrade(db_url)
    return db_url


@pytest.fixture
def db_engine(migrated_url):
    from npuhub.hub import db

    engine = db.make_engine(migrated_url)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------- ledger and time


def simulated_inventory(device_dir: str | Path):
    from npuhub.hub.ledger import NodeSpec

    return [
        NodeSpec(
            name="sim",
            type="simulated",
            rings=SIM_RINGS,
            device_dir=str(device_dir),
            source="simulated",
        ),
        NodeSpec(
            name="n910", type="Ascend910B", rings=SIM_RINGS, device_dir="/dev", source="config"
        ),
    ]


@pytest.fixture
def ledger(db_engine, tmp_path):
    """A Ledger with node "sim" (8 simulated devices, rings 0-3 and 4-7, under
    tmp_path/devices) and node "n910" (8 Ascend910B devices in /dev)."""
    from npuhub.hub import db
    from npuhub.hub.ledger import Ledger

    led = Ledger(db.session_factory(db_engine))
    led.inventory.sync(simulated_inventory(tmp_path / "devices"))
    return led


class FakeClock:
    """A clock that stands still until moved: ``fake_clock.advance(hours=2)``."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    """npuhub.hub.clock.utcnow frozen at Wednesday 2025-03-05 10:00 UTC, moved by hand."""
    clock = FakeClock(datetime(2025, 3, 5, 10, 0, tzinfo=UTC))
    monkeypatch.setattr("npuhub.hub.clock.utcnow", clock)
    return clock
