"""The batch queue in the platform database: submit, list, get, and state changes.

Every state change is one compare-and-set update (``UPDATE … WHERE state IN (…)``) in a
short write transaction, and says whether it happened: two callers that race (the
scheduler starting a job, a user cancelling it, a restarted service adopting it) cannot
both win, so a job is started once and its end is recorded once. The NPU-hour charge of
a job is its ledger allocation (kind "job", holder the job id: ``Ledger.allocate`` for a
local job's devices, ``Ledger.charge_job`` for a Slurm job's record); whoever records the
end releases it (``Ledger.release_job``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from npuhub.hub import clock, db
from npuhub.hub.ledger import quota
from npuhub.hub.refusals import Refusal

from . import cpu_hours
from .models import ACTIVE, TERMINAL, Job

LIST_LIMIT = 500


def check_quota(
    ledger, *, user, groups, account, npus, profile=None, holding=True, pending=(0, 0)
) -> str:
    """The account a job is charged to, or QuotaError. `holding=False` (at submit): only
    what can never fit (per-job size, budget spent, profile); True (at start): also what
    the user and the account hold now, plus `pending` (user's, account's NPUs in jobs
    handed to Slurm that have not started, so hold nothing yet)."""
    charged, limits, held = ledger.policies.limits_for(user, groups, account)
    if not holding:
        held = dataclasses.replace(held, user_npus=0, account_npus=0)
    else:
        held = dataclasses.replace(
            held, user_npus=held.user_npus + pending[0], account_npus=held.account_npus + pending[1]
        )
    quota.check(npus, limits, held, profile=profile)
    return charged


class JobQueue(db.Store):
    # ---------------------------------------------------------------- submit and read

    def submit(
        self, *, max_active: int | None = None, max_cpu: int | None = None,
        cpu_budget: cpu_hours.CpuBudget | None = None, **fields: Any
    ) -> dict:
        """Queue a job (fields as in :class:`Job`); returns it. `max_active`: queued and
        running jobs the user may have at once; `max_cpu`: of them, jobs without NPUs;
        `cpu_budget`: the CPU-hours jobs without NPUs may use. Checked and inserted in
        one transaction (a burst of submissions cannot all pass the check): a coded
        Refusal if over a limit."""
        fields.setdefault("groups", [])
        fields.setdefault("datasets", [])
        fields.setdefault("parameters", {})
        fields.setdefault("devices", [])
        fields.setdefault("priority", 0)
        with db.transaction(self.session_factory, write=True, lock=db.JOBS_LOCK) as s:
            self._check_limits(s, fields["user"], fields.get("npus", 0), max_active, max_cpu)
            if cpu_budget is not None and not fields.get("npus"):
                cpu_hours.check(s, cpu_budget, fields["user"], fields.get("account") or
                                fields["user"], clock.utcnow())
            job = Job(
                state="queued", reason="waiting to be scheduled", created=clock.utcnow(), **fields
            )
            s.add(job)
            s.flush()
            return job.as_dict()

    @staticmethod
    def _check_limits(s, user: str, npus: int, max_active, max_cpu) -> None:
        mine = select(func.count(Job.id)).where(Job.user == user, Job.state.in_(ACTIVE))
        if max_active is not None:
            active = s.scalar(mine) or 0
            if active >= max_active:
                raise Refusal("too_many_jobs", active=active)
        if max_cpu is not None and not npus:
            cpu = s.scalar(mine.where(Job.npus == 0)) or 0
            if cpu >= max_cpu:
                raise Refusal("too_many_cpu_jobs", active=cpu)

    def get(self, job_id: int) -> Job | None:
        with self._read() as s:
            return s.get(Job, job_id)

    def list(self, user: str | None = None, limit: int = LIST_LIMIT) -> list[dict]:
        """Jobs, newest first (one user's, or everyone's)."""
        with self._read() as s:
            q = select(Job).order_by(Job.id.desc()).limit(limit)
            if user is not None:
                q = q.where(Job.user == user)
            return [j.as_dict() for j in s.scalars(q)]

    def active_count(self, user: str) -> int:
        with self._read() as s:
            return (
                s.scalar(select(func.count(Job.id)).where(Job.user == user, Job.state.in_(ACTIVE)))
                or 0
            )

    def in_state(self, states: Iterable[str], backend: str | None = None) -> list[Job]:
        """Jobs in `states`, in the scheduler's order: priority, then submission."""
        with self._read() as s:
            q = select(Job).where(Job.state.in_(list(states)))
            if backend is not None:
                q = q.where(Job.backend == backend)
            return list(s.scalars(q.order_by(Job.priority.desc(), Job.created, Job.id)))

    # ---------------------------------------------------------------- state changes

    def move(self, job_id: int, from_states: Iterable[str], to: str, **values: Any) -> bool:
        """Set state `to` (and `values`) if the job is in one of `from_states`; True if
        this call made the change."""
        values["state"] = to
        if to in TERMINAL:
            values.setdefault("finished", clock.utcnow())
        with self._write() as s:
            result = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(list(from_states)))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def claim(self, job_id: int) -> bool:
        """queued → starting: the one scheduler that wins may start the job."""
        return self.move(job_id, ["queued"], "starting", reason="starting")

    def finish(
        self,
        job_id: int,
        state: str,
        reason: str,
        exit_code: int | None = None,
        finished: datetime | None = None,
    ) -> bool:
        """Record the end of a job that has not ended yet; True if this call recorded it."""
        if state not in TERMINAL:
            raise ValueError(f"{state!r} is not a final state")
        return self.move(
            job_id,
            ACTIVE,
            state,
            reason=reason,
            exit_code=exit_code,
            finished=finished or clock.utcnow(),
        )

    def note(self, job_id: int, state: str, reason: str) -> bool:
        """Change the reason a waiting or running job shows, if it is still in `state`."""
        return self.move(job_id, [state], state, reason=reason)
