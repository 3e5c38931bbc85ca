"""Quota policy: which account a request is charged to, the limits that apply, and
whether a request fits them. Pure code, no I/O: the ledger gathers the numbers in its
transaction and asks here; every refusal is a sentence a person understands.

Limits come from three layers, field by field, the first that is set wins:

1. the user's own override (``UserQuota``),
2. the policy of the account charged (``QuotaPolicy`` of that group),
3. the deployment default (the ``"*"`` policy, over the embedded :data:`DEFAULT_LIMITS`).

A limit that is unset in all three is unlimited. ``npu_hours`` of a group or the default
is the budget of the *account* per period; ``npu_hours_per_member`` of a group or the
default is each member's share of it (what one member may use of that account per
period: a course's hours per student); ``npu_hours`` of a user override is that user's
*own* budget per period (across accounts). All that are set are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from npuhub.hub.refusals import Refusal

PERIODS = ("day", "week", "month")
# the settable limit columns, in display order (the REST API and the CLI use these names)
LIMIT_FIELDS = (
    "max_npus_per_server",
    "max_npus",
    "group_max_npus",
    "npu_hours",
    "npu_hours_per_member",
    "period",
    "max_session_hours",
    "profiles",
)
# a group's own limits, not settable per user
GROUP_ONLY_FIELDS = ("group_max_npus", "npu_hours_per_member")
USER_LIMIT_FIELDS = tuple(f for f in LIMIT_FIELDS if f not in GROUP_ONLY_FIELDS)
DEFAULT_ACCOUNT = "*"  # the reserved group name of the deployment default policy


class LedgerError(Refusal):
    """A request the platform declines: a code and its numbers (hub/refusals.py);
    str(error) is the English sentence."""


class QuotaError(LedgerError):
    """Refused by policy: account, profile, NPU count or NPU-hours budget (403)."""


@dataclass(frozen=True)
class Limits:
    max_npus_per_server: int | None = None
    max_npus: int | None = None
    group_max_npus: int | None = None
    npu_hours: float | None = None
    npu_hours_per_member: float | None = None
    period: str = "week"
    max_session_hours: float | None = None
    profiles: tuple[str, ...] | None = None
    user_npu_hours: float | None = None  # from the user's override only

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["profiles"] = list(self.profiles) if self.profiles is not None else None
        return d


# the embedded default: each user up to 4 NPUs, no hours budget, no group cap
DEFAULT_LIMITS = Limits(max_npus_per_server=4, max_npus=4)


@dataclass(frozen=True)
class Holdings:
    """What the user and the account hold and have used, at `now`."""

    account: str
    user_npus: int = 0
    account_npus: int = 0
    account_hours: float = 0.0
    user_hours: float = 0.0  # the user's, across accounts
    member_hours: float = 0.0  # the user's, charged to this account
    personal: bool = False  # the account is the user's personal one (in no group)
    now: datetime | None = None


Layer = Mapping[str, Any] | Limits | None


def _get(layer: Layer, name: str) -> Any:
    if layer is None:
        return None
    if isinstance(layer, Limits):
        return getattr(layer, name)
    return layer.get(name)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def effective_limits(user_override: Layer, group_policy: Layer, default_policy: Layer) -> Limits:
    """The limits of one user charging one account (see the module docstring)."""
    if default_policy is None:
        default_policy = DEFAULT_LIMITS
    chain = (user_override, group_policy, default_policy)
    values: dict[str, Any] = {}
    for name in USER_LIMIT_FIELDS:
        if name == "npu_hours":
            continue
        values[name] = _first(*(_get(layer, name) for layer in chain))
    for name in GROUP_ONLY_FIELDS:
        values[name] = _first(_get(group_policy, name), _get(default_policy, name))
    values["npu_hours"] = _first(_get(group_policy, "npu_hours"), _get(default_policy, "npu_hours"))
    values["user_npu_hours"] = _get(user_override, "npu_hours")
    values["period"] = values["period"] or "week"
    if values["profiles"] is not None:
        values["profiles"] = tuple(values["profiles"])
    return Limits(**values)


def merge_layers(top: Layer, bottom: Layer) -> dict[str, Any]:
    """Field by field, `top` where set, else `bottom` (the "*" row over the embedded
    default)."""
    return {f.name: _first(_get(top, f.name), _get(bottom, f.name)) for f in fields(Limits)}


# ------------------------------------------------------------------ accounts


def choose_account(
    user: str, groups: Sequence[str], requested: str | None, default: str | None = None
) -> str:
    """The account to charge. A user in no group is charged to a personal account named
    after them; in one group, to it; in several, to the one `requested` (or the hub's
    `default`, when it is one of them)."""
    accounts = sorted(set(groups)) or [user]
    if requested:
        if requested not in accounts:
            raise QuotaError("account_not_yours", account=requested, accounts=accounts)
        return requested
    if len(accounts) == 1:
        return accounts[0]
    if default in accounts:
        return default
    raise QuotaError("account_ambiguous", accounts=accounts)


def is_personal(user: str, groups: Sequence[str], account: str) -> bool:
    return not groups and account == user


# ------------------------------------------------------------------ periods


def period_start(period: str, now: datetime) -> datetime:
    """Start of the budget period holding `now`: day at midnight UTC, week on Monday
    00:00 UTC, month on the 1st 00:00 UTC (`now` must be timezone-aware UTC)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def period_end(period: str, now: datetime) -> datetime:
    start = period_start(period, now)
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def fmt_hours(hours: float) -> str:
    """40.0 -> "40", 39.5 -> "39.5"."""
    return format(round(hours, 1), "g")


# ------------------------------------------------------------------ the check


def check(request_npus: int, limits: Limits, current: Holdings, profile: str | None = None) -> None:
    """Raise QuotaError unless `request_npus` more NPUs fit `limits` given `current`."""
    if isinstance(request_npus, bool) or not isinstance(request_npus, int) or request_npus < 0:
        raise QuotaError("npus_not_whole", value=repr(request_npus)[:40])
    whose = {"account": current.account, "personal": current.personal}
    if profile is not None and limits.profiles is not None and profile not in limits.profiles:
        raise QuotaError(
            "profile_not_allowed", profile=profile, allowed=list(limits.profiles), **whose
        )
    if request_npus == 0:
        return  # a CPU-only server holds nothing and uses no NPU-hours
    per_server = limits.max_npus_per_server
    if per_server is not None and request_npus > per_server:
        raise QuotaError("quota_per_server", npus=request_npus, per_server=per_server, **whose)
    if limits.max_npus is not None and current.user_npus + request_npus > limits.max_npus:
        held, cap = current.user_npus, limits.max_npus
        if held >= cap:
            raise QuotaError("quota_user_full", held=held, cap=cap)
        raise QuotaError("quota_user_more", held=held, cap=cap, npus=request_npus, more=cap - held)
    cap = limits.group_max_npus
    if cap is not None and current.account_npus + request_npus > cap:
        held = current.account_npus
        if held >= cap:
            raise QuotaError("quota_account_full", held=held, cap=cap, **whose)
        raise QuotaError(
            "quota_account_more", held=held, cap=cap, npus=request_npus, left=cap - held, **whose
        )
    refusal = budget_spent(limits, current)
    if refusal:
        if current.now is not None:
            refusal.params["resets"] = period_end(limits.period, current.now).isoformat()
        raise QuotaError(refusal.code, **refusal.params)


def spent(limits: Limits, current: Holdings) -> str | None:
    """The NPU-hour budget that is used up, as an English sentence; None while all have
    hours left (:func:`budget_spent` gives the refusal itself)."""
    refusal = budget_spent(limits, current)
    return str(refusal) if refusal else None


def budget_spent(limits: Limits, current: Holdings) -> QuotaError | None:
    """The NPU-hour budget that is used up (the account's, the member's share of it, the
    user's own), as a refusal; None while all have hours left."""
    period = limits.period
    budget = limits.npu_hours
    if budget is not None and current.account_hours >= budget:
        return QuotaError(
            "budget_account", used=float(current.account_hours), budget=float(budget),
            period=period, account=current.account, personal=current.personal,
        )  # fmt: skip
    budget = limits.npu_hours_per_member
    if budget is not None and not current.personal and current.member_hours >= budget:
        return QuotaError(
            "budget_member", used=float(current.member_hours), budget=float(budget),
            period=period, account=current.account,
        )  # fmt: skip
    budget = limits.user_npu_hours
    if budget is not None and current.user_hours >= budget:
        return QuotaError(
            "budget_user", used=float(current.user_hours), budget=float(budget), period=period
        )
    return None


def remaining_npus(limits: Limits, current: Holdings) -> int | None:
    """How many NPUs one more server could have now (None: no NPU limit applies)."""
    if spent(limits, current):
        return 0
    caps = [
        limits.max_npus_per_server,
        None if limits.max_npus is None else limits.max_npus - current.user_npus,
        None if limits.group_max_npus is None else limits.group_max_npus - current.account_npus,
    ]
    known = [max(c, 0) for c in caps if c is not None]
    return min(known) if known else None
