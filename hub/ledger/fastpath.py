"""The DBAPI hot path of the ledger's grant and release on SQLite.

A grant or a release is a handful of small statements, and on SQLite SQLAlchemy's work
per statement (an execution context, parameter and result processing through generic
machinery, a Result object) costs several times what SQLite needs to answer it. For the
few statements of the hot path, :func:`execute` runs the SQL that SQLAlchemy compiled for
them (once per statement and set of parameter names) directly on the DBAPI connection
underneath the caller's SQLAlchemy connection: the same connection, inside the same
transaction (``BEGIN IMMEDIATE`` under the ledger's write lock, committed or rolled back
by SQLAlchemy), with each parameter and each result column passed through its column
type's own bind and result processors, so what is stored and what comes back is what
SQLAlchemy would store and return. Any other dialect, and any statement that compiles to
something the hot path does not do (parameters it was not given, such as column
defaults), runs through ``Connection.execute`` as usual.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


class _Compiled:
    """One statement compiled for SQLite: its SQL, the order and processors of its
    parameters, and the row type and processors of what it returns."""

    def __init__(self, statement, keys: tuple[str, ...], dialect):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.insert_prefetch or compiled.update_prefetch:  # defaults to fill in
            raise LookupError(statement)
        self.sql = compiled.string
        # (name, the statement's own value if not given, the type's bind processor)
        self.binds: list[tuple[str, Any, Callable | None]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if name not in keys and (bind.required or bind.callable is not None):
                raise LookupError(statement)
            value = None if name in keys else bind.effective_value
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self.binds.append((name, value, process))
        columns = list(getattr(statement, "selected_columns", None) or
                       getattr(statement, "exported_columns", None) or ())
        self.row = (
            namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        )
        self.results = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]


class Result:
    """The little of SQLAlchemy's Result the ledger uses."""

    __slots__ = ("_rows", "rowcount", "lastrowid")

    def __init__(self, rows: list, rowcount: int, lastrowid: int | None):
        self._rows, self.rowcount, self.lastrowid = rows, rowcount, lastrowid

    def __iter__(self):
        return iter(self._rows)

    def all(self) -> list:
        return list(self._rows)

    def first(self):
        return self._rows[0] if self._rows else None

    def scalar(self):
        return self._rows[0][0] if self._rows else None

    @property
    def inserted_primary_key(self) -> tuple:
        return (self.lastrowid,)


_cache: dict[tuple[int, tuple[str, ...]], tuple[Any, _Compiled | None]] = {}
_cache_lock = threading.Lock()


def _compiled(statement, keys: tuple[str, ...], dialect) -> _Compiled | None:
    key = (id(statement), keys)
    found = _cache.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    try:
        compiled: _Compiled | None = _Compiled(statement, keys, dialect)
    except LookupError:
        compiled = None
    with _cache_lock:  # the statement is kept with it, so its id stays its own
        _cache[key] = (statement, compiled)
    return compiled


def execute(conn: Connection, statement, params: Mapping[str, Any] | None = None):
    """``conn.execute(statement, params)``, on the DBAPI connection for SQLite."""
    params = params or {}
    if conn.dialect.name != "sqlite" or conn.dialect.driver != "pysqlite":
        return conn.execute(statement, params)
    compiled = _compiled(statement, tuple(sorted(params)), conn.dialect)
    if compiled is None:
        return conn.execute(statement, params)
    values = []
    for name, own, process in compiled.binds:
        value = params.get(name, own)
        values.append(process(value) if process is not None else value)
    cursor = conn.connection.driver_connection.cursor()
    try:
        try:
            cursor.execute(compiled.sql, values)
            raw = cursor.fetchall() if cursor.description is not None else []
        except conn.dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(
                compiled.sql, values, e, conn.dialect.loaded_dbapi.Error
            ) from e
        rows = []
        if compiled.row is not None:
            processors = compiled.results
            make = compiled.row._make
            for r in raw:
                rows.append(make(
                    p(v) if p is not None else v for p, v in zip(processors, r, strict=True)
                ))
        return Result(rows, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()
