"""Gather what decides a user's profiles (:mod:`.profiles`) from the platform database:
the courses' profiles and the `profiles` limit of each of the user's accounts.

Blocking (a few short reads): call it from an executor, never on an event loop.
"""

from __future__ import annotations

from collections.abc import Iterable

from .platform import platform_for
from .profiles import ProfileRules, rules


def profile_rules(
    ledger, db_url: str, configured: Iterable[dict], user: str, groups: Iterable[str]
) -> ProfileRules:
    groups = sorted(set(groups))
    accounts = groups or [user]
    restrictions = {a: ledger.policies.limits_for(user, groups, a)[1].profiles for a in accounts}
    courses = platform_for(db_url).courses.profiles() if db_url else []
    return rules(configured, courses, restrictions)
