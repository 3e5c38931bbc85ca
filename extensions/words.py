"""The platform's own words in the person's language: a job's states and the reasons it
waits (hub/jobs), the roles in a course. Anything else comes through as it came."""

from __future__ import annotations

import re

from .i18n import N_, _

# a job's states and the reasons the platform gives for a wait (hub/jobs), as the Lab shows
STATES = {s: s for s in (N_("queued"), N_("starting"), N_("running"), N_("succeeded"),
                         N_("failed"), N_("cancelled"), N_("timed_out"))}  # fmt: skip
REASONS = {r: r for r in (N_("waiting to be scheduled"), N_("starting"), N_("queued again"))}


ROLES = {r: r for r in (N_("student"), N_("instructor"))}


def role_text(role: str | None) -> str:
    return _(ROLES[role]) if role in ROLES else (role or "")


def state_text(state: str | None) -> str:
    """A job's state in the person's language (an unknown one as it came)."""
    return _(STATES[state]) if state in STATES else (state or "")


def reason_text(reason: str) -> str:
    """Why a job waits, in the person's language when it is one the platform gives."""
    if reason in REASONS:
        return _(reason)
    m = re.fullmatch(r"waiting behind job (\d+), first in line", reason)
    if m:
        return _("waiting behind job {id}, first in line").format(id=m.group(1))
    m = re.fullmatch(r"cancelled by (\S+)", reason)
    if m:
        return _("cancelled by {user}").format(user=m.group(1))
    return reason
