"""The ledger's quota policies: group policies and users' own overrides as stored, and
the limits and holdings they give a request (the checks themselves are in :mod:`.quota`).

``default_limits`` is the built-in layer under the stored ``"*"`` policy. A grant reads
the policies it needs through :meth:`Policies.limits`, which remembers them while the
policies' version (:mod:`.store`) says nothing changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from npuhub.hub import clock
from npuhub.hub.orm import Allocation, QuotaPolicy, UserQuota

from . import quota, store
from .quota import (
    DEFAULT_ACCOUNT,
    GROUP_ONLY_FIELDS,
    LIMIT_FIELDS,
    PERIODS,
    USER_LIMIT_FIELDS,
    Holdings,
    Limits,
)
from .usage import npu_hours, open_records

_A = Allocation.__table__
_GROUP_ROW = select(*(QuotaPolicy.__table__.c[n] for n in LIMIT_FIELDS)).where(
    QuotaPolicy.__table__.c.group == bindparam("key")
)
_USER_ROW = select(*(UserQuota.__table__.c[n] for n in USER_LIMIT_FIELDS)).where(
    UserQuota.__table__.c.user == bindparam("key")
)
_ALL_ROWS = {  # every stored row of a kind: (key, *fields)
    "group": select(QuotaPolicy.__table__.c.group,
                    *(QuotaPolicy.__table__.c[n] for n in LIMIT_FIELDS)),
    "user": select(UserQuota.__table__.c.user,
                   *(UserQuota.__table__.c[n] for n in USER_LIMIT_FIELDS)),
}
_COMPLETE = "complete"  # key of the marker: every stored row is in the remembered rows


def _closed_hours(conn: Connection, start: datetime, now: datetime, **who) -> float:
    return npu_hours(conn, start, now, closed=True, **who)


def _connection(s: Connection | Session) -> Connection:
    return s.connection() if isinstance(s, Session) else s


class Policies(store.LedgerStore):
    """Quota policies of groups, users' own overrides, and the limits they make."""

    def __init__(
        self, session_factory: sessionmaker[Session], default_limits: Limits | None = None
    ):
        super().__init__(session_factory)
        self.default_limits = default_limits or quota.DEFAULT_LIMITS
        self._cache: tuple[int, dict[tuple[str, str], Any]] = (-1, {})
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ limits

    def _rows(self, version: int | None) -> dict[tuple[str, str], Any]:
        """Stored rows remembered at policies `version` (None: remember nothing)."""
        if version is None:
            return {}
        cached_version, rows = self._cache
        if cached_version != version:
            with self._lock:
                if self._cache[0] != version:
                    self._cache = (version, {})
                rows = self._cache[1]
        return rows

    @staticmethod
    def _load_all(conn: Connection, rows: dict) -> None:
        """Remember every stored policy and user override at once (one read per policies
        version, instead of one per user a grant meets for the first time)."""
        if (_COMPLETE, "") in rows:
            return
        for kind, names in (("group", LIMIT_FIELDS), ("user", USER_LIMIT_FIELDS)):
            for key, *values in conn.execute(_ALL_ROWS[kind]):
                rows[(kind, key)] = dict(zip(names, values, strict=True))
        rows[(_COMPLETE, "")] = True

    @staticmethod
    def _row(conn: Connection, rows: dict, kind: str, key: str) -> dict | None:
        if (kind, key) in rows:
            return rows[(kind, key)]
        if (_COMPLETE, "") in rows:  # not stored
            return None
        statement, names = (
            (_GROUP_ROW, LIMIT_FIELDS) if kind == "group" else (_USER_ROW, USER_LIMIT_FIELDS)
        )
        found = conn.execute(statement, {"key": key}).first()
        row = dict(zip(names, found, strict=True)) if found is not None else None
        rows[(kind, key)] = row
        return row

    def _default_layer(self, conn: Connection, rows: dict) -> dict[str, Any]:
        layer = rows.get(("layer", DEFAULT_ACCOUNT))
        if layer is None:
            stored = self._row(conn, rows, "group", DEFAULT_ACCOUNT)
            layer = rows[("layer", DEFAULT_ACCOUNT)] = quota.merge_layers(
                stored, self.default_limits
            )
        return layer

    def account_limits(self, s: Connection | Session, account: str) -> Limits:
        """The limits of `account` itself: its policy over the default (no user's own)."""
        conn, rows = _connection(s), self._rows(None)
        group_row = self._row(conn, rows, "group", account) if account != DEFAULT_ACCOUNT else None
        return quota.effective_limits(None, group_row, self._default_layer(conn, rows))

    def limits(
        self,
        s: Connection | Session,
        user: str,
        groups: list[str],
        account: str,
        version: int | None = None,
    ) -> Limits:
        """The limits of `user` charging `account`. With the policies' `version` (read
        under the ledger's write lock), the stored rows are remembered until it changes."""
        conn, rows = _connection(s), self._rows(version)
        personal = quota.is_personal(user, groups, account)
        key = ("limits", f"{user}\0{account}\0{personal}")
        if key in rows:
            return rows[key]
        if version is not None:
            self._load_all(conn, rows)
        group_row = None if personal else self._row(conn, rows, "group", account)
        limits = quota.effective_limits(
            self._row(conn, rows, "user", user), group_row, self._default_layer(conn, rows)
        )
        rows[key] = limits
        return limits

    @staticmethod
    def holdings(
        s: Connection | Session,
        user: str,
        groups: list[str],
        account: str,
        limits: Limits,
        now: datetime,
        closed_hours: Callable[..., float] = _closed_hours,
        records: Iterable | None = None,
    ) -> Holdings:
        """What `user` and `account` hold now and used this period: their open
        `records` (:func:`.usage.open_records`, read here if not given), and the closed
        records' hours from `closed_hours` (summed only where `limits` set a budget)."""
        conn = _connection(s)
        if records is None:
            records = open_records(conn, user, account)
        start = quota.period_start(limits.period, now)
        user_npus = account_npus = 0
        open_s = {"account": 0.0, "user": 0.0, "member": 0.0}  # NPU-seconds this period
        for record in records:
            usr, acc, npus, started = record.user, record.account, record.npus, record.started
            seconds = npus * max((now - max(started, start)).total_seconds(), 0.0)
            if usr == user:
                user_npus += npus
                open_s["user"] += seconds
            if acc == account:
                account_npus += npus
                open_s["account"] += seconds
                if usr == user:
                    open_s["member"] += seconds

        def hours(scope: str, **who) -> float:
            return closed_hours(conn, start, now, **who) + open_s[scope] / 3600

        return Holdings(
            account=account,
            user_npus=user_npus,
            account_npus=account_npus,
            account_hours=(
                hours("account", account=account) if limits.npu_hours is not None else 0.0
            ),
            user_hours=hours("user", user=user) if limits.user_npu_hours is not None else 0.0,
            member_hours=(
                hours("member", user=user, account=account)
                if limits.npu_hours_per_member is not None
                else 0.0
            ),
            personal=quota.is_personal(user, groups, account),
            now=now,
        )

    def limits_for(
        self, user: str, groups: Iterable[str], account: str | None = None
    ) -> tuple[str, Limits, Holdings]:
        """The account `user` would be charged, its limits and the current holdings (for
        the spawn form and /me). Raises QuotaError if the account must be chosen."""
        groups = sorted(set(groups))
        with self._read() as s:
            now = clock.utcnow()
            charged = quota.choose_account(user, groups, account)
            limits = self.limits(s, user, groups, charged)
            return charged, limits, self.holdings(s, user, groups, charged, limits, now)

    # ------------------------------------------------------------------ stored policies

    def set(self, group: str, **limits: Any) -> dict:
        """Set some limits of a group's policy (others unchanged; None = inherit the
        default). Group "*" is the deployment default."""
        _validate(limits, LIMIT_FIELDS)
        with self._write() as s:
            row = QuotaPolicy.find(s, group)
            if row is None:
                row = QuotaPolicy(group=group)
                s.add(row)
            _assign(row, limits)
            s.flush()
            store.bump(s.connection(), store.POLICIES)
            return self._policy_dict(s, row, group)

    def get(self, group: str) -> dict | None:
        """A group's policy as stored (None if it has none); for "*", the effective
        default (the stored row over the built-in one)."""
        with self._read() as s:
            row = QuotaPolicy.find(s, group)
            if row is None and group != DEFAULT_ACCOUNT:
                return None
            return self._policy_dict(s, row, group)

    def all(self) -> list[dict]:
        """Every group's policy, the default ("*") first."""
        with self._read() as s:
            rows = s.scalars(
                select(QuotaPolicy)
                .where(QuotaPolicy.group != DEFAULT_ACCOUNT)
                .order_by(QuotaPolicy.group)
            ).all()
            default = self._policy_dict(s, QuotaPolicy.find(s, DEFAULT_ACCOUNT), DEFAULT_ACCOUNT)
            return [default] + [self._policy_dict(s, r, r.group) for r in rows]

    def _policy_dict(self, s: Session, row: QuotaPolicy | None, group: str) -> dict:
        if group == DEFAULT_ACCOUNT:
            merged = quota.merge_layers(_row_limits(row), self.default_limits)
            values = {k: merged[k] for k in LIMIT_FIELDS}
            values["period"] = values["period"] or "week"
        else:
            values = _row_limits(row) or {}
        return {
            "group": group,
            **values,
            "updated": row.updated if row is not None else None,
        }

    def users(self) -> list[dict]:
        """Every user's own overrides, by name (limits left null inherit)."""
        with self._read() as s:
            rows = s.scalars(select(UserQuota).order_by(UserQuota.user)).all()
            return [{"user": r.user, **(_row_limits(r) or {}), "updated": r.updated}
                    for r in rows]

    def set_user(self, user: str, **limits: Any) -> dict:
        """Set some of a user's own overrides (others unchanged; None = inherit)."""
        for name in GROUP_ONLY_FIELDS:
            if name in limits:
                raise ValueError(f"{name} is a group's limit: set it on the group's policy")
        _validate(limits, USER_LIMIT_FIELDS)
        with self._write() as s:
            row = UserQuota.find(s, user)
            if row is None:
                row = UserQuota(user=user)
                s.add(row)
            _assign(row, limits)
            s.flush()
            store.bump(s.connection(), store.POLICIES)
            return {"user": user, **(_row_limits(row) or {}), "updated": row.updated}


def _row_limits(row: QuotaPolicy | UserQuota | None) -> dict[str, Any] | None:
    if row is None:
        return None
    names = LIMIT_FIELDS if isinstance(row, QuotaPolicy) else USER_LIMIT_FIELDS
    return {name: getattr(row, name) for name in names}


def _validate(limits: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(limits) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown limit(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    period = limits.get("period")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    profiles = limits.get("profiles")
    if profiles is not None and (
        isinstance(profiles, str) or not all(isinstance(p, str) for p in profiles)
    ):
        raise ValueError("profiles must be a list of profile slugs, or None")
    for name in ("max_npus_per_server", "max_npus", "group_max_npus"):
        value = limits.get(name)
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 0):
            raise ValueError(f"{name} must be a whole number >= 0, or None")
    for name in ("npu_hours", "npu_hours_per_member", "max_session_hours"):
        value = limits.get(name)
        if value is not None and (isinstance(value, bool) or float(value) < 0):
            raise ValueError(f"{name} must be a number >= 0, or None")


def _assign(row: QuotaPolicy | UserQuota, limits: Mapping[str, Any]) -> None:
    for name, value in limits.items():
        if value is not None:
            if name in ("max_npus_per_server", "max_npus", "group_max_npus"):
                value = int(value)
            elif name in ("npu_hours", "npu_hours_per_member", "max_session_hours"):
                value = float(value)
            elif name == "profiles":
                value = list(value)
        setattr(row, name, value)
    row.updated = clock.utcnow()
