"""What the ledger's collaborators share: their transactions, and the version counters
that tell a process whether what it remembers of the ledger is still true.

Every write to the ledger's tables takes the ledger's write lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: the transaction-scoped advisory lock ``db.LEDGER_LOCK``), so the
ledger's writers, in every process, run one after another. The one row of
``ledger_state`` counts the writes that change what a grant reads: the inventory (nodes,
devices, drains), the holdings (which devices are held) and the quota policies. A writer
bumps the counter of what it changes in its own transaction; a process that cached the
topology, the free devices or the policies at version N knows its cache is true while
the counter still says N (the counters only grow, and only under the write lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from npuhub.hub import db
from npuhub.hub.orm import LedgerState

from . import fastpath

INVENTORY, HOLDINGS, POLICIES = "inventory", "holdings", "policies"
COUNTERS = (INVENTORY, HOLDINGS, POLICIES)
_T = LedgerState.__table__
_READ = select(_T.c.inventory, _T.c.holdings, _T.c.policies).where(_T.c.id == 1)


@dataclass(frozen=True)
class Versions:
    """The counters after this transaction's bump (``holdings`` of a grant's own bump:
    what it saw before is ``holdings - 1``)."""

    inventory: int
    holdings: int
    policies: int


def _bump_statement(names: tuple[str, ...]):
    return (
        update(_T)
        .where(_T.c.id == 1)
        .values({name: _T.c[name] + 1 for name in names})
        .returning(_T.c.inventory, _T.c.holdings, _T.c.policies)
    )


_BUMPS = {
    names: _bump_statement(names)
    for names in ((HOLDINGS,), (POLICIES,), (INVENTORY, HOLDINGS), COUNTERS)
}


def bump(conn: Connection, *names: str) -> Versions:
    """Count a change of `names` (inside the writer's transaction); the new versions."""
    key = tuple(n for n in COUNTERS if n in names)
    statement = _BUMPS.get(key)
    if statement is None:
        statement = _bump_statement(key)
    row = fastpath.execute(conn, statement).first()
    if row is None:  # a database whose row was lost: start counting again
        conn.execute(insert(_T).values(id=1, inventory=1, holdings=1, policies=1))
        return Versions(1, 1, 1)
    return Versions(*row)


def read(conn: Connection) -> Versions:
    row = conn.execute(_READ).first()
    return Versions(*row) if row is not None else Versions(0, 0, 0)


class LedgerStore:
    """A collaborator of the ledger kept in the platform database: each public method is
    one short transaction (callers on an event loop run them in an executor)."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def _write(self):
        return db.transaction(self.session_factory, write=True, lock=db.LEDGER_LOCK)

    def _read(self):
        return db.transaction(self.session_factory)

    def _write_connection(self):
        """A write transaction on a Core connection (the hot paths of the ledger)."""
        return db.write_connection(self.session_factory.kw["bind"], lock=db.LEDGER_LOCK)
