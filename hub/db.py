"""Engines, sessions and migrations for SQLite and PostgreSQL alike.

SQLite: WAL (synchronous=NORMAL, a checkpoint every 10,000 pages), foreign keys, a 30 s
busy timeout, and pysqlite's own transaction handling switched off so that we emit BEGIN
ourselves: ``BEGIN IMMEDIATE`` for a transaction that
writes (it takes the database's write lock at once, so two writers never both read and
then both write), a plain deferred ``BEGIN`` for readers (SQLAlchemy's "Serializable
isolation / Savepoints / Transactional DDL" recipe for pysqlite).

PostgreSQL: a writer that asks for a ``lock`` takes that transaction-scoped advisory lock
first; with READ COMMITTED every later statement then sees what the previous holder
committed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_S = 30
WAL_CHECKPOINT_PAGES = 10_000  # SQLite's default is 1,000 pages (of 4 KiB)
WRITE_OPTION = "npuhub_write"
MIGRATIONS = Path(__file__).parent / "migrations"
# advisory lock keys (PostgreSQL): one writer at a time in the NPU ledger; one migrator
LEDGER_LOCK = 0x6E707568  # "npuh"
MIGRATE_LOCK = 0x6E70756D  # "npum"
JOBS_LOCK = 0x6E70756A  # "npuj": a job's limit check and its insert, one at a time


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url` (``sqlite:///path`` or ``postgresql+psycopg2://…``)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(u, **kwargs)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", BUSY_TIMEOUT_S)
    connect_args.setdefault("check_same_thread", False)
    if u.database in (None, "", ":memory:"):
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        # pysqlite must not emit BEGIN/COMMIT on its own (also keeps DDL transactional)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; durable at checkpoints
        # a checkpoint (and its fsyncs) every ~40 MB of WAL instead of ~4 MB: it runs in
        # the commit that crosses the mark, and the ledger commits twice for every grant
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # on the DBAPI connection: a statement through SQLAlchemy costs several times what
        # SQLite needs for it, and the ledger begins a transaction for every grant
        driver = conn.connection.driver_connection
        if driver.in_transaction:  # begun by write_connection: SQLAlchemy's joins it
            return
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN"
        _driver_call(conn, sql, driver.execute, sql)

    return engine


def _driver_call(conn: Connection, sql: str, call, *args):
    """A call on SQLite's DBAPI connection, its errors as SQLAlchemy raises them."""
    error = conn.dialect.loaded_dbapi.Error
    try:
        return call(*args)
    except error as e:  # e.g. still locked after the busy timeout
        raise DBAPIError.instance(sql, (), e, error) from e


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_local_locks: dict[tuple[int, int | None], threading.RLock] = {}
_local_locks_guard = threading.Lock()


def _local_lock(engine: Engine, key: int | None) -> threading.RLock:
    """The in-process twin of a database write lock: threads of this process queue here
    (in order, without SQLite's busy-wait sleeps, without holding a pooled connection)."""
    with _local_locks_guard:
        return _local_locks.setdefault((id(engine), key), threading.RLock())


@contextmanager
def transaction(
    factory: sessionmaker[Session], *, write: bool = False, lock: int | None = None
) -> Iterator[Session]:
    """A session in one transaction, committed on success, rolled back on error.

    ``write=True`` takes the database's write lock at BEGIN on SQLite; ``lock`` (with
    write) also serializes writers on PostgreSQL with that advisory lock key. Writers
    that would wait for each other at the database wait in this process first."""
    if not write:
        with factory() as session, session.begin():
            session.connection()
            yield session
        return
    engine = factory.kw.get("bind")
    sqlite = engine is not None and engine.dialect.name == "sqlite"
    if engine is None or (not sqlite and lock is None):
        local = contextlib.nullcontext()
    else:
        local = _local_lock(engine, None if sqlite else lock)
    with local, factory() as session, session.begin():
        conn = session.connection(execution_options={WRITE_OPTION: True})
        if lock is not None and conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
        yield session


@contextmanager
def write_connection(engine: Engine, lock: int | None = None) -> Iterator[Connection]:
    """What ``transaction(write=True, lock=lock)`` does, on a Core connection without an
    ORM session (for the ledger's grants and releases, where the session's bookkeeping
    costs as much as the statements)."""
    sqlite = engine.dialect.name == "sqlite"
    if not sqlite and lock is None:
        local = contextlib.nullcontext()
    else:
        local = _local_lock(engine, None if sqlite else lock)
    with local, engine.connect() as conn:
        if sqlite and engine.dialect.driver == "pysqlite":
            yield from _sqlite_write(conn)
            return
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if lock is not None and not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
            yield conn


def _sqlite_write(conn: Connection) -> Iterator[Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on the DBAPI connection under `conn` (a third of
    what SQLAlchemy's begin and commit cost; the ledger commits twice per grant). A
    statement run through ``conn.execute`` inside joins this transaction (the begin
    event sees it begun), and SQLAlchemy's commit or rollback then ends it."""
    driver = conn.connection.driver_connection
    _driver_call(conn, "BEGIN IMMEDIATE", driver.execute, "BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction():
            conn.rollback()
        if driver.in_transaction:
            _driver_call(conn, "ROLLBACK", driver.rollback)
        raise
    if conn.in_transaction():
        conn.commit()
    else:
        _driver_call(conn, "COMMIT", driver.commit)


_upgrade_lock = threading.Lock()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolation: a password may contain %
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` to `revision`, by default every head: features add
    their tables in migrations of their own, which may branch from the same parent.
    The hub, the service, the CLI and the tests all call this; concurrent callers wait
    for each other (other processes at the database's lock; threads of this process
    here, as Alembic's `op` and `context` are module globals)."""
    from alembic import command

    with _upgrade_lock:
        command.upgrade(alembic_config(url), revision)


def current_heads(url: str) -> tuple[str, ...]:
    """The revisions the database at `url` is at (sorted; empty if never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()


def script_heads() -> tuple[str, ...]:
    """The head revisions of the migrations shipped with this package."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


class Store:
    """A component kept in the platform DB: each operation one short transaction."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def _write(self):
        return transaction(self.session_factory, write=True)

    def _read(self):
        return transaction(self.session_factory)
