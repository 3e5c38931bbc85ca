"""The ledger's usage records: open allocations, NPU-hours per account and user.

An allocation is also its usage record: NPU-hours are its NPUs times the part of
[started, ended) inside the period asked (an open record counts until now).
:func:`npu_hours` is what the quota check counts against a budget (inside the grant's
transaction); :class:`Usage` answers the reports (each one short read transaction), with
the account budgets of the :class:`~npuhub.hub.ledger.policies.Policies` it is given.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, or_, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from npuhub.hub import clock
from npuhub.hub.orm import Allocation, UTCDateTime

from . import fastpath, quota
from .quota import PERIODS
from .store import LedgerStore

if TYPE_CHECKING:
    from .policies import Policies

_HOURS: dict[tuple[str, bool, bool, bool], Any] = {}


def _hours_statement(dialect: str, by_account: bool, by_user: bool, closed: bool = False):
    """SUM(npus × seconds inside [t_start, t_end)) of the overlapping records, built once
    per dialect and filter (the database sums: one row back, however many records)."""
    t_start = bindparam("t_start", type_=UTCDateTime)
    t_end = bindparam("t_end", type_=UTCDateTime)
    lo = func.max if dialect == "sqlite" else func.greatest
    hi = func.min if dialect == "sqlite" else func.least
    first = lo(Allocation.started, t_start)
    last = hi(func.coalesce(Allocation.ended, t_end), t_end)
    if dialect == "sqlite":
        seconds = (func.julianday(last) - func.julianday(first)) * 86400.0
    else:
        seconds = func.extract("epoch", last - first)
    q = select(func.sum(Allocation.npus * seconds)).where(
        Allocation.npus > 0, Allocation.started < t_end,
        or_(Allocation.ended.is_(None), Allocation.ended > t_start),
    )
    if closed:
        q = q.where(Allocation.ended.is_not(None))
    if by_account:
        q = q.where(Allocation.account == bindparam("account"))
    if by_user:
        q = q.where(Allocation.user == bindparam("user"))
    return q


_RECORD = (
    Allocation.id, Allocation.user, Allocation.account, Allocation.kind, Allocation.holder,
    Allocation.npus, Allocation.started,
)
_OPEN = union_all(  # each half one index lookup ((state, user), (state, account))
    select(*_RECORD).where(Allocation.state == "active", Allocation.user == bindparam("user")),
    select(*_RECORD).where(
        Allocation.state == "active", Allocation.account == bindparam("account")
    ),
)


def open_records(conn: Connection, user: str, account: str) -> list:
    """The open records of `user` or charged to `account` (rows with id, user, account,
    kind, holder, npus, started): what they hold now."""
    rows = fastpath.execute(conn, _OPEN, {"user": user, "account": account}).all()
    return list({row.id: row for row in rows}.values())  # the user's own are in both halves


def npu_hours(
    conn: Connection | Session,
    start: datetime,
    end: datetime,
    *,
    account: str | None = None,
    user: str | None = None,
    closed: bool = False,
) -> float:
    """NPU-hours of the records of `account` (or `user`) inside [start, end) (`closed`:
    of the closed records only)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return sum(hours for _, _, hours in usage_records(conn, start, end, account, user))
    key = (dialect, account is not None, user is not None, closed)
    statement = _HOURS.get(key)
    if statement is None:
        statement = _HOURS[key] = _hours_statement(*key)
    params: dict[str, Any] = {"t_start": start, "t_end": end}
    if account is not None:
        params["account"] = account
    if user is not None:
        params["user"] = user
    return max(float(conn.execute(statement, params).scalar() or 0.0), 0.0) / 3600


class HoursMemory:
    """NPU-hours of closed records per (account, user, period start), remembered between
    grants while the holdings version (:mod:`.store`) says that no other writer came in
    between: a closed record never changes, and the ledger adds each record it closes
    (:meth:`closed`). Used only under the ledger's write lock."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._sums: dict[tuple[str | None, str | None, datetime], float] = {}  # seconds

    def begin(self, holdings: int) -> None:
        """A writer's transaction that bumped the holdings to `holdings` starts."""
        if self._version != holdings - 1:
            self._sums = {}

    def done(self, holdings: int) -> None:
        self._version = holdings

    def forget(self) -> None:
        self._version, self._sums = None, {}

    def closed_hours(
        self, conn: Connection, start: datetime, now: datetime, *, account=None, user=None
    ) -> float:
        """NPU-hours of the closed records of `account` and/or `user` since `start`."""
        key = (account, user, start)
        seconds = self._sums.get(key)
        if seconds is None:
            hours = npu_hours(conn, start, now, account=account, user=user, closed=True)
            seconds = self._sums[key] = hours * 3600
        return seconds / 3600

    def closed(self, account: str, user: str, npus: int, started: datetime, ended: datetime):
        """Count a record this transaction closed."""
        if not npus:
            return
        for key in self._sums:
            acc, usr, start = key
            if (acc is None or acc == account) and (usr is None or usr == user) and ended > start:
                self._sums[key] += npus * (ended - max(started, start)).total_seconds()


def usage_records(s: Connection | Session, start: datetime, end: datetime, account, user):
    """(account, user, NPU-hours inside [start, end)) of every overlapping record."""
    q = select(
        Allocation.account,
        Allocation.user,
        Allocation.started,
        Allocation.ended,
        Allocation.npus,
    ).where(*_overlaps(start, end))
    if account is not None:
        q = q.where(Allocation.account == account)
    if user is not None:
        q = q.where(Allocation.user == user)
    for acc, usr, started, ended, npus in s.execute(q):
        lo, hi = max(started, start), min(ended or end, end)
        yield acc, usr, max((hi - lo).total_seconds(), 0.0) / 3600 * npus


def _overlaps(start: datetime, end: datetime) -> tuple:
    """Records with NPUs whose time overlaps [start, end)."""
    return (
        Allocation.npus > 0,
        Allocation.started < end,
        or_(Allocation.ended.is_(None), Allocation.ended > start),
    )


def _allocation_dict(a: Allocation) -> dict:
    return {
        "id": a.id,
        "user": a.user,
        "account": a.account,
        "kind": a.kind,
        "holder": a.holder,
        "profile": a.profile,
        "npus": a.npus,
        "devices": [list(d) for d in a.devices],
        "started": a.started,
        "ended": a.ended,
        "state": a.state,
        "reason": a.reason,
    }


class Usage(LedgerStore):
    """Allocations (open and closed) and NPU-hours."""

    def __init__(self, session_factory: sessionmaker[Session], policies: Policies):
        super().__init__(session_factory)
        self.policies = policies

    def active(self, user: str | None = None, kind: str | None = None) -> list[dict]:
        """The open allocations, oldest first."""
        with self._read() as s:
            q = select(Allocation).where(Allocation.state == "active")
            if user is not None:
                q = q.where(Allocation.user == user)
            if kind is not None:
                q = q.where(Allocation.kind == kind)
            return [_allocation_dict(a) for a in s.scalars(q.order_by(Allocation.id))]

    def allocation(self, allocation_id: int) -> dict | None:
        with self._read() as s:
            a = s.get(Allocation, allocation_id)
            return _allocation_dict(a) if a is not None else None

    def set_provenance(self, allocation_id: int, record: dict) -> bool:
        """Keep what the holder of an open allocation runs on (False if it is closed)."""
        with self._write() as s:
            a = s.get(Allocation, allocation_id)
            if a is None or a.state != "active":
                return False
            a.provenance = record
            return True

    def note_dataset(self, user: str, dataset: dict) -> int:
        """Add a dataset ({"name", "version", …}) mounted during a session to the records
        of `user`'s running servers (they share the user's mounts); how many changed."""
        changed = 0
        with self._write() as s:
            q = select(Allocation).where(
                Allocation.state == "active", Allocation.user == user,
                Allocation.kind == "server", Allocation.provenance.is_not(None),
            )  # fmt: skip
            for a in s.scalars(q):
                prov = dict(a.provenance or {})
                have = list(prov.get("datasets") or [])
                key = (dataset.get("name"), dataset.get("version"))
                if any((d.get("name"), d.get("version")) == key for d in have):
                    continue
                prov["datasets"] = [*have, dataset]
                a.provenance = prov
                changed += 1
        return changed

    def provenance(self, user: str, kind: str, holder: str) -> dict | None:
        """The provenance of `user`'s open allocation of (kind, holder), or None."""
        with self._read() as s:
            return s.scalar(
                select(Allocation.provenance)
                .where(Allocation.state == "active", Allocation.user == user,
                       Allocation.kind == kind, Allocation.holder == holder)
                .order_by(Allocation.id.desc()).limit(1)
            )  # fmt: skip

    def report(
        self,
        *,
        account: str | None = None,
        user: str | None = None,
        period: str = "week",
        now: datetime | None = None,
    ) -> dict:
        """NPU-hours in the current `period` (open records count until now), in total and
        by account and by user; with an `account`, also its budget and what remains."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
        now = now or clock.utcnow()
        start, end = quota.period_start(period, now), quota.period_end(period, now)
        by_account: dict[str, float] = {}
        by_user: dict[str, float] = {}
        with self._read() as s:
            for acc, usr, hours in usage_records(s, start, min(now, end), account, user):
                by_account[acc] = by_account.get(acc, 0.0) + hours
                by_user[usr] = by_user.get(usr, 0.0) + hours
            budget = None
            if account is not None:
                limits = self.policies.account_limits(s, account)
                budget = limits.npu_hours if limits.period == period else None
            active = s.scalar(
                select(func.coalesce(func.sum(Allocation.npus), 0)).where(
                    Allocation.state == "active",
                    *([Allocation.account == account] if account is not None else []),
                    *([Allocation.user == user] if user is not None else []),
                )
            )
        total = sum(by_account.values())
        out: dict[str, Any] = {
            "account": account,
            "user": user,
            "period": period,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "npu_hours": round(total, 6),
            "active_npus": int(active or 0),
        }
        if account is not None:
            out["budget_npu_hours"] = budget
            out["remaining_npu_hours"] = (
                None if budget is None else round(max(budget - total, 0.0), 6)
            )
        out["by_account"] = {k: round(v, 6) for k, v in sorted(by_account.items())}
        out["by_user"] = {k: round(v, 6) for k, v in sorted(by_user.items())}
        return out
