"""The ledger's DBAPI hot path (SQLite) stores and returns what SQLAlchemy does, and a
write transaction begun on the DBAPI connection commits or rolls back everything in it,
statements through SQLAlchemy included; on PostgreSQL the same calls go through
SQLAlchemy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from npuhub.hub import clock, db
from npuhub.hub.ledger import fastpath, store
from npuhub.hub.ledger.ledger import _CLOSE, _INSERT
from npuhub.hub.ledger.usage import _OPEN
from npuhub.hub.orm import Allocation

RECORD = {
    "user": "ana", "account": "physics", "kind": "server", "holder": "h1",
    "profile": None, "npus": 2, "state": "active", "devices": [["sim", 0], ["sim", 1]],
}


@pytest.fixture
def engine(migrated_url):
    engine = db.make_engine(migrated_url)
    yield engine
    engine.dispose()


def test_the_hot_path_reads_and_writes_what_sqlalchemy_does(engine):
    started = clock.utcnow() - timedelta(minutes=5)
    with db.write_connection(engine, db.LEDGER_LOCK) as conn:
        fast = fastpath.execute(conn, _INSERT, {**RECORD, "started": started})
        slow = conn.execute(_INSERT, {**RECORD, "holder": "h2", "started": started})
        ids = [fast.inserted_primary_key[0], slow.inserted_primary_key[0]]
        via_fast = fastpath.execute(conn, _OPEN, {"user": "ana", "account": "physics"}).all()
        via_sqlalchemy = conn.execute(_OPEN, {"user": "ana", "account": "physics"}).all()
    assert [tuple(r) for r in via_fast] == [tuple(r) for r in via_sqlalchemy]
    assert sorted({r.id for r in via_fast}) == sorted(ids)
    assert {r.started for r in via_fast} == {started}  # aware UTC, to the microsecond
    with db.transaction(db.session_factory(engine)) as s:
        rows = s.scalars(select(Allocation).order_by(Allocation.id)).all()
    assert [(a.holder, a.devices, a.started) for a in rows] == [
        ("h1", [["sim", 0], ["sim", 1]], started), ("h2", [["sim", 0], ["sim", 1]], started)
    ]
    now = clock.utcnow()
    with db.write_connection(engine, db.LEDGER_LOCK) as conn:
        closed = fastpath.execute(conn, _CLOSE, {"alloc": ids[0], "now": now, "reason": "x"})
        row = closed.first()
        again = fastpath.execute(conn, _CLOSE, {"alloc": ids[0], "now": now, "reason": "x"})
        assert again.first() is None and again.rowcount == 0
    assert (row.user, row.npus, row.started, row.ended) == ("ana", 2, started, now)


def test_a_failed_write_leaves_nothing_whichever_path_wrote(engine):
    with db.write_connection(engine, db.LEDGER_LOCK) as conn:
        before = store.bump(conn, store.HOLDINGS)
    with pytest.raises(RuntimeError), db.write_connection(engine, db.LEDGER_LOCK) as conn:
        store.bump(conn, store.HOLDINGS)  # the hot path
        conn.execute(_INSERT, {**RECORD, "started": clock.utcnow()})  # through SQLAlchemy
        raise RuntimeError("refused")
    with db.write_connection(engine, db.LEDGER_LOCK) as conn:
        conn.execute(_INSERT, {**RECORD, "started": clock.utcnow()})  # joins, then commits
        after = store.bump(conn, store.HOLDINGS)
    assert after.holdings == before.holdings + 1
    with db.transaction(db.session_factory(engine)) as s:
        assert len(s.scalars(select(Allocation)).all()) == 1
