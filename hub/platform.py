"""One Ledger per process and database URL (hub, service and CLI each build their own)."""

from __future__ import annotations

import functools

from . import db
from .ledger import Ledger


@functools.cache
def get_ledger(db_url: str) -> Ledger:
    engine = db.make_engine(db_url)
    return Ledger(db.session_factory(engine))
