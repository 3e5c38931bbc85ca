"""The composition root: one database engine per process and URL, and every store of
the platform built from it (hub, service and CLI each call :func:`platform_for`).

One engine means one connection pool and one in-process write lock per database
(:func:`npuhub.hub.db.transaction`): the ledger's writers, the job queue's, the datasets'
and the courses' queue in the same line instead of meeting at the database's lock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import db
from .accounts.store import AccountStore
from .courses.store import CourseStore
from .datasets.store import DatasetStore
from .jobs.queue import JobQueue
from .ledger import Ledger
from .line.store import Line


@dataclass(frozen=True)
class Platform:
    """The stores of one platform database, on one engine."""

    engine: Engine
    session_factory: sessionmaker[Session]
    ledger: Ledger  # with .inventory, .policies, .usage
    jobs: JobQueue
    datasets: DatasetStore
    courses: CourseStore
    accounts: AccountStore
    line: Line  # server requests waiting for NPUs


def build(engine: Engine) -> Platform:
    """Every store on `engine` (tests and benchmarks build their own)."""
    factory = db.session_factory(engine)
    return Platform(
        engine=engine,
        session_factory=factory,
        ledger=Ledger(factory),
        jobs=JobQueue(factory),
        datasets=DatasetStore(factory),
        courses=CourseStore(factory),
        accounts=AccountStore(factory),
        line=Line(factory),
    )


@functools.cache
def platform_for(db_url: str) -> Platform:
    """The platform of `db_url` in this process (built once)."""
    return build(db.make_engine(db_url))
