"""Alembic environment of the platform database (run by npuhub.hub.db.upgrade).

Migrations run in one transaction that holds the database's write lock (SQLite: BEGIN
IMMEDIATE; PostgreSQL: an advisory lock), so a hub, a service and a CLI starting at once
upgrade it once. On SQLite, table rebuilds ("batch" mode) run with foreign keys off, as
Alembic advises, and are checked afterwards.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from npuhub.hub import db, orm

config = context.config
target_metadata = orm.Base.metadata


def _pragma(connection, pragma: str) -> None:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    engine = None
    if connection is None:
        engine = db.make_engine(config.get_main_option("sqlalchemy.url"))
        connection = engine.connect()
    try:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # a no-op inside a transaction: on the driver's connection, before BEGIN
            _pragma(connection, "foreign_keys=OFF")
        connection = connection.execution_options(**{db.WRITE_OPTION: True})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": db.MIGRATE_LOCK})
            context.run_migrations()
            if sqlite:
                bad = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise RuntimeError(f"migration broke foreign keys: {bad[:5]}")
        if sqlite:
            _pragma(connection, "foreign_keys=ON")
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
