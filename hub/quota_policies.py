"""The ledger's quota policies: group policies and users' own overrides as stored, and
the limits and holdings they give a request (the checks themselves are in :mod:`.quota`).

:class:`QuotaPolicyMixin` is part of :class:`~npuhub.hub.ledger.Ledger` (it uses the
ledger's ``_write`` and ``_read`` transactions and its ``default_limits``, the built-in
layer under the stored ``"*"`` policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock, quota
from .orm import Allocation, QuotaPolicy, UserQuota
from .quota import (
    DEFAULT_ACCOUNT,
    GROUP_ONLY_FIELDS,
    LIMIT_FIELDS,
    PERIODS,
    USER_LIMIT_FIELDS,
    Holdings,
    Limits,
)
from .usage_reports import npu_hours


class QuotaPolicyMixin:
    """Quota policies and limits of the :class:`~npuhub.hub.ledger.Ledger`."""

    def _default_layer(self, s: Session) -> dict[str, Any]:
        row = QuotaPolicy.find(s, DEFAULT_ACCOUNT)
        return quota.merge_layers(_row_limits(row), self.default_limits)

    def _account_limits(self, s: Session, account: str) -> Limits:
        """The limits of `account` itself: its policy over the default (no user's own)."""
        group_row = QuotaPolicy.find(s, account) if account != DEFAULT_ACCOUNT else None
        return quota.effective_limits(None, _row_limits(group_row), self._default_layer(s))

    def _limits(self, s: Session, user: str, groups: list[str], account: str) -> Limits:
        group_row = (
            None if quota.is_personal(user, groups, account) else QuotaPolicy.find(s, account)
        )
        return quota.effective_limits(
            _row_limits(UserQuota.find(s, user)), _row_limits(group_row), self._default_layer(s)
        )

    def _holdings(
        self, s: Session, user: str, groups: list[str], account: str, limits: Limits, now: datetime
    ) -> Holdings:
        def active_npus(*where) -> int:
            q = select(func.coalesce(func.sum(Allocation.npus), 0)).where(
                Allocation.state == "active", *where
            )
            return int(s.scalar(q) or 0)

        start = quota.period_start(limits.period, now)
        return Holdings(
            account=account,
            user_npus=active_npus(Allocation.user == user),
            account_npus=active_npus(Allocation.account == account),
            account_hours=(
                npu_hours(s, start, now, account=account) if limits.npu_hours is not None else 0.0
            ),
            user_hours=(
                npu_hours(s, start, now, user=user) if limits.user_npu_hours is not None else 0.0
            ),
            member_hours=(
                npu_hours(s, start, now, user=user, account=account)
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
            limits = self._limits(s, user, groups, charged)
            return charged, limits, self._holdings(s, user, groups, charged, limits, now)

    def set_policy(self, group: str, **limits: Any) -> dict:
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
            return self._policy_dict(s, row, group)

    def get_policy(self, group: str) -> dict | None:
        """A group's policy as stored (None if it has none); for "*", the effective
        default (the stored row over the built-in one)."""
        with self._read() as s:
            row = QuotaPolicy.find(s, group)
            if row is None and group != DEFAULT_ACCOUNT:
                return None
            return self._policy_dict(s, row, group)

    def policies(self) -> list[dict]:
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
            merged = self._default_layer(s)
            values = {k: merged[k] for k in LIMIT_FIELDS}
            values["period"] = values["period"] or "week"
        else:
            values = _row_limits(row) or {}
        return {
            "group": group,
            **values,
            "updated": row.updated if row is not None else None,
        }

    def set_user_quota(self, user: str, **limits: Any) -> dict:
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
            return {"user": user, **(_row_limits(row) or {}), "updated": row.updated}

    def get_user_quota(self, user: str) -> dict | None:
        with self._read() as s:
            row = UserQuota.find(s, user)
            if row is None:
                return None
            return {"user": user, **(_row_limits(row) or {}), "updated": row.updated}

    def user_quotas(self) -> list[dict]:
        with self._read() as s:
            return [
                {"user": r.user, **(_row_limits(r) or {}), "updated": r.updated}
                for r in s.scalars(select(UserQuota).order_by(UserQuota.user))
            ]


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
