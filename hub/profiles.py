"""The one rule of which profiles a user may use: the spawn form, the spawner and the
jobs resource all ask here, so they cannot drift apart.

A user's profiles are the configured ones, then the courses' (a slug configured first
wins), kept where the profile names none of `groups` or one of the user's groups, and
where the quota policy of the account charged allows it (its `profiles` limit; None: any).
The default profile of a request that names none is the first of those.

Pure: the caller gathers the course profiles and each account's `profiles` limit
(:func:`npuhub.hub.profile_lookup.profile_rules`) and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# account -> the slugs its quota policy allows (None: any profile)
Restrictions = Mapping[str, Sequence[str] | None]


@dataclass(frozen=True)
class ProfileRules:
    """What decides one user's profiles: every profile on offer (configured, then
    courses') and each of the user's accounts' `profiles` limit."""

    profiles: tuple[dict, ...]
    restrictions: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)


def rules(
    configured: Iterable[dict], courses: Iterable[dict], restrictions: Restrictions
) -> ProfileRules:
    """Configured profiles then the courses' (a course cannot shadow a configured slug)."""
    profiles = list(configured)
    slugs = {p["slug"] for p in profiles}
    profiles += [p for p in courses if p["slug"] not in slugs]
    return ProfileRules(
        tuple(profiles),
        {a: None if r is None else tuple(r) for a, r in restrictions.items()},
    )


def in_groups(profile: dict, groups: Iterable[str]) -> bool:
    """A profile that names no group is everyone's; else its groups' members'."""
    return not profile.get("groups") or bool(set(groups) & set(profile["groups"]))


def allowed_slugs(restrictions: Restrictions, account: str | None) -> set[str] | None:
    """The slugs the quota allows (None: any). For a chosen `account`, its own limit;
    without one, what any of the user's accounts allows (the ledger then asks which
    account to charge when there are several)."""
    if account is not None:
        if account not in restrictions:
            return None  # not one of the user's accounts: the ledger refuses it
        limit = restrictions[account]
        return None if limit is None else set(limit)
    if not restrictions or any(r is None for r in restrictions.values()):
        return None
    return {slug for r in restrictions.values() for slug in r or ()}


def usable(rules: ProfileRules, groups: Iterable[str], account: str | None = None) -> list[dict]:
    """The profiles this user may use, in the order offered (the first is the default)."""
    groups = list(groups)
    restrictions = rules.restrictions
    if groups:  # a user in groups is charged to one of them (else to their own account)
        restrictions = {a: r for a, r in restrictions.items() if a in groups}
    allowed = allowed_slugs(restrictions, account)
    return [
        p
        for p in rules.profiles
        if in_groups(p, groups) and (allowed is None or p["slug"] in allowed)
    ]


def choose(
    profiles: Sequence[dict], slug: str | None = None, image: str | None = None
) -> dict | None:
    """Among `profiles` (a user's usable ones): the one named `slug`, else the first of
    `image`, else (neither given) the first; None if the one asked for is not there."""
    if slug:
        return next((p for p in profiles if p["slug"] == slug), None)
    if image is not None:
        return next((p for p in profiles if p["image"] == image), None)
    return profiles[0] if profiles else None
