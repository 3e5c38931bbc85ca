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


class LedgerError(Exception):
    """A request the platform declines; str(error) is the message for the person."""


class QuotaError(LedgerError):
    """Refused by policy: account, profile, NPU count or NPU-hours budget."""


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
            raise QuotaError(f"{requested} is not one of your accounts: {', '.join(accounts)}")
        return requested
    if len(accounts) == 1:
        return accounts[0]
    if default in accounts:
        return default
    raise QuotaError(
        f"You are in several groups; choose the account to charge: {', '.join(accounts)}"
    )


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


_THIS = {"day": "today", "week": "this week", "month": "this month"}


def _reset(period: str, now: datetime | None) -> str:
    if now is None:
        return ""
    end = period_end(period, now)
    if period == "day":
        when = "at 00:00 UTC"
    elif period == "week":
        when = "Monday 00:00 UTC"
    else:
        when = f"on {end.day} {end:%B} 00:00 UTC"
    return f"; the budget resets {when}"


def fmt_hours(hours: float) -> str:
    """40.0 -> "40", 39.5 -> "39.5"."""
    return format(round(hours, 1), "g")


def _npus(n: int) -> str:
    return f"{n} NPU" if n == 1 else f"{n} NPUs"


# ------------------------------------------------------------------ the check


def check(request_npus: int, limits: Limits, current: Holdings, profile: str | None = None) -> None:
    """Raise QuotaError unless `request_npus` more NPUs fit `limits` given `current`."""
    if isinstance(request_npus, bool) or not isinstance(request_npus, int) or request_npus < 0:
        raise QuotaError(
            f"The number of NPUs must be a whole number, 0 or more, not {request_npus!r}"
        )
    account = current.account
    whose = "your account" if current.personal else account
    if profile is not None and limits.profiles is not None and profile not in limits.profiles:
        allowed = ", ".join(limits.profiles) or "none"
        raise QuotaError(f"Profile {profile} is not available to {whose}; allowed: {allowed}")
    if request_npus == 0:
        return  # a CPU-only server holds nothing and uses no NPU-hours
    per_server = limits.max_npus_per_server
    if per_server is not None and request_npus > per_server:
        raise QuotaError(
            f"You asked for {_npus(request_npus)}; at most {per_server} per server "
            f"{'is' if per_server == 1 else 'are'} allowed for {whose}"
        )
    if limits.max_npus is not None and current.user_npus + request_npus > limits.max_npus:
        held, cap = current.user_npus, limits.max_npus
        if held >= cap:
            raise QuotaError(f"You already hold {held} of your {_npus(cap)}")
        raise QuotaError(
            f"You hold {held} of your {_npus(cap)} and asked for {request_npus}: "
            f"at most {cap - held} more"
        )
    cap = limits.group_max_npus
    if cap is not None and current.account_npus + request_npus > cap:
        held = current.account_npus
        who = "Your account" if current.personal else f"Group {account}"
        if held >= cap:
            raise QuotaError(f"{who} holds {held} of its {_npus(cap)}")
        raise QuotaError(
            f"{who} holds {held} of its {_npus(cap)}; you asked for {request_npus}, "
            f"{cap - held} {'is' if cap - held == 1 else 'are'} left"
        )
    reason = spent(limits, current)
    if reason:
        raise QuotaError(reason + _reset(limits.period, current.now))


def spent(limits: Limits, current: Holdings) -> str | None:
    """The NPU-hour budget that is used up (the account's, the member's share of it, the
    user's own), as a sentence; None while all have hours left."""
    this = _THIS.get(limits.period, "this period")
    budget = limits.npu_hours
    if budget is not None and current.account_hours >= budget:
        who = "Your account" if current.personal else f"Group {current.account}"
        return (
            f"{who} has used {fmt_hours(current.account_hours)} of {fmt_hours(budget)} "
            f"NPU-hours {this}"
        )
    budget = limits.npu_hours_per_member
    if budget is not None and not current.personal and current.member_hours >= budget:
        return (
            f"You have used {fmt_hours(current.member_hours)} of your "
            f"{fmt_hours(budget)} NPU-hours in {current.account} {this}"
        )
    budget = limits.user_npu_hours
    if budget is not None and current.user_hours >= budget:
        return (
            f"You have used {fmt_hours(current.user_hours)} of your {fmt_hours(budget)} "
            f"NPU-hours {this}"
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
