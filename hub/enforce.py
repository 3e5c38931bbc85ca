"""Budgets and session limits on what runs: when an account's NPU-hour budget is spent,
its user is warned and, after a grace period, the servers are stopped (the home volume
is kept) and the batch jobs charged to it are cancelled (their log and outputs so far
are kept). A server that has run longer than `max_session_hours` is stopped the same
way (batch jobs have their own time limit).

`decide` is pure (allocations, budgets, the first time each was seen over, now → what to
do); `Enforcer` runs it in the service, stops servers through the hub's REST API and
cancels jobs through the service's batch queue."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import clock
from .ledger import quota

log = logging.getLogger("npuhub.enforce")


@dataclass(frozen=True)
class Verdict:
    allocation_id: int
    user: str
    server: str
    action: str  # "warn" or "stop"
    message: str
    deadline: datetime
    kind: str = "server"  # or "job": server is then the job id
    reason: str = ""  # the limit reached, without what is done about it


def decide(
    allocations: list[dict],
    spent: dict[int, str | None],
    session_hours: dict[int, float | None],
    first_over: dict[int, datetime],
    now: datetime,
    grace: timedelta,
) -> list[Verdict]:
    """allocations: active server and job allocations (ledger dicts); spent: allocation
    id → the NPU-hour budget it has used up, as a sentence (quota.spent: the account's,
    the member's share, the user's own), or None; session_hours: allocation id → the
    user's max_session_hours (None: no limit). `first_over` is updated in place: when
    each allocation was first seen over a limit."""
    verdicts = []
    for a in allocations:
        if not a.get("npus"):
            continue  # a server without NPUs costs no NPU-hours and holds nothing scarce
        kind = a.get("kind", "server")
        reason = spent.get(a["id"])
        limit = session_hours.get(a["id"]) if kind == "server" else None
        if reason is None and limit is not None and now - a["started"] >= timedelta(hours=limit):
            reason = f"Your session has reached its limit of {limit:g} hours"
        if reason is None:
            first_over.pop(a["id"], None)
            continue
        since = first_over.setdefault(a["id"], now)
        deadline = since + grace
        action = "stop" if now >= deadline else "warn"
        if kind == "job":
            message = (
                f"{reason}: job {a['holder']} is cancelled; its log and outputs so far are kept."
                if action == "stop"
                else f"{reason}: job {a['holder']} will be cancelled at {deadline:%H:%M} UTC."
            )
        else:
            message = (
                f"{reason}: your server is stopped; your files are kept."
                if action == "stop"
                else f"{reason}: your server will be stopped at {deadline:%H:%M} UTC; "
                "save your work (your files are kept)."
            )
        verdicts.append(
            Verdict(a["id"], a["user"], a["holder"], action, message, deadline, kind, reason)
        )
    return verdicts


class Enforcer:
    """`jobs`: a callable giving the service's batch queue (npuhub.hub.jobs.backend.Jobs),
    or None while it has not started."""

    def __init__(self, ledger, hub, grace_seconds: float, jobs=None):
        self.ledger = ledger
        self.jobs = jobs or (lambda: None)
        self.hub = hub  # npuhub.hub.hubapi.AsyncHubAPI
        self.grace = timedelta(seconds=grace_seconds)
        self.first_over: dict[int, datetime] = {}
        self.warnings: dict[str, list[str]] = {}  # user → messages, shown in /me

    def _gather(self, groups_of: dict[str, list[str]]):
        allocations = [a for a in self.ledger.usage.active() if a["kind"] in ("server", "job")]
        spent, session = {}, {}
        known: dict[tuple[str, str], tuple] = {}  # (user, account) → (spent, session)
        for a in allocations:
            key = (a["user"], a["account"])
            if key not in known:
                try:
                    _, limits, held = self.ledger.policies.limits_for(
                        a["user"], self._groups(a, groups_of), a["account"]
                    )
                    known[key] = (quota.spent(limits, held), limits.max_session_hours)
                except quota.QuotaError as e:  # e.g. no longer in the group it charges
                    log.warning("No limits for %s charging %s: %s", a["user"], a["account"], e)
                    known[key] = (None, None)
            spent[a["id"]], session[a["id"]] = known[key]
        return allocations, spent, session

    def _groups(self, a: dict, groups_of: dict[str, list[str]]) -> list[str]:
        """The user's groups: from the hub for users with a server, from the job record
        (as at submission) for a batch job whose user has none."""
        jobs = self.jobs()
        if a["user"] in groups_of or a["kind"] != "job" or jobs is None:
            return groups_of.get(a["user"], [])
        job = jobs.queue.get(int(a["holder"]))
        return list(job.groups or []) if job is not None else []

    async def tick(self, groups_of: dict[str, list[str]]) -> list[Verdict]:
        loop = asyncio.get_running_loop()
        allocations, spent, session = await loop.run_in_executor(None, self._gather, groups_of)
        verdicts = decide(allocations, spent, session, self.first_over, clock.utcnow(), self.grace)
        warnings: dict[str, list[str]] = {}
        for v in verdicts:
            warnings.setdefault(v.user, []).append(v.message)
            if v.action == "stop" and v.kind == "job":
                log.warning("Cancelling job %s of %s: %s", v.server, v.user, v.message)
                await self._cancel_job(v)
                self.first_over.pop(v.allocation_id, None)
            elif v.action == "stop":
                log.warning("Stopping server %r of %s: %s", v.server, v.user, v.message)
                await self._stop(v.user, v.server)
                self.first_over.pop(v.allocation_id, None)
        self.warnings = warnings
        return verdicts

    async def _cancel_job(self, v: Verdict) -> None:
        jobs = self.jobs()
        if jobs is None:
            return  # the queue starts with the service; the next tick will see it
        try:
            await jobs.cancel_by_id(int(v.server), v.reason)
        except Exception:
            log.exception("Cancelling job %s of %s failed", v.server, v.user)

    async def _stop(self, user: str, server: str) -> None:
        try:
            await self.hub.stop_server(user, server)
        except Exception:
            log.exception("Stopping server %r of %s failed", server, user)
