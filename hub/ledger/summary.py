"""What a user sees of their own standing: accounts, limits, usage, allocations.
Used by GET /api/v1/me and the spawn form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import quota

if TYPE_CHECKING:
    from .ledger import Ledger


def summary(ledger: Ledger, user: str, groups: Iterable[str]) -> dict:
    """The standing of `user` in `groups`: per account its limits, hours used and budget,
    the NPUs one more server could have, and the user's open allocations."""
    groups = sorted(set(groups))
    accounts = groups or [user]
    per_account = []
    for account in accounts:
        _, limits, held = ledger.policies.limits_for(user, groups, account)
        used = ledger.usage.report(account=account, user=None, period=limits.period)
        # the meter a person watches: their own share where the group sets one (a
        # course's hours per student), else the account's budget
        share = limits.npu_hours_per_member is not None and not held.personal
        per_account.append(
            {
                "account": account,
                "limits": limits.as_dict(),
                "npu_hours_used": held.member_hours if share else used["npu_hours"],
                "npu_hours_budget": limits.npu_hours_per_member if share else limits.npu_hours,
                "budget_of": "member" if share else "account",
                "account_npu_hours_used": used["npu_hours"],
                "account_npu_hours_budget": limits.npu_hours,
                "period": limits.period,
                "resets": quota.period_end(limits.period, held.now).isoformat(),
                "remaining_npus": quota.remaining_npus(limits, held),
                "account_npus": held.account_npus,
            }
        )
    first = per_account[0]
    budget = None
    if first["npu_hours_budget"] is not None:
        budget = (
            f"{first['npu_hours_used']:.1f} / {first['npu_hours_budget']:g} NPU-hours "
            f"this {first['period']}"
        )
    return {
        "accounts": accounts,
        "quotas": per_account,
        "remaining_npus": first["remaining_npus"],
        "budget": budget,
        "allocations": ledger.usage.active(user=user),
    }
