"""Batch jobs in the service: the backend chosen by ``c.JobsConfig.backend``
(:mod:`.local` or :mod:`.slurmjobs`) and the scheduler loop.

:class:`Jobs` is what the service holds: its loop ticks every ``poll_interval`` seconds
(and at once after a submission): the backend watches what runs, the ledger is
reconciled with the jobs that are active, the backend starts what it can, and the
servers waiting in the line (:mod:`npuhub.hub.line`) are granted their turn. Both backends
charge NPU-hours through ledger allocations of kind "job" (holder: the job id): the
local one holds real devices from the start of the container, the Slurm one opens a
record without local devices when Slurm starts the job. The quota is checked at submit
(what can never fit) and again before a job is started or handed to sbatch.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from npuhub.hub.line.keeper import LineKeeper

from .common import LOG_LIMIT, log_piece
from .models import ACTIVE, Job
from .queue import JobQueue

log = logging.getLogger("npuhub.jobs")
RECONCILE_EVERY = 15  # ticks


def make_backend(queue: JobQueue, ledger, cfg, settings, keeper=None):
    if cfg.backend == "slurm":
        from .slurmjobs import SlurmJobs

        return SlurmJobs(queue, ledger, cfg)
    from .local import LocalBackend

    return LocalBackend(queue, ledger, cfg, settings.path("job-logs"), keeper=keeper)


class Jobs:
    """The batch queue as the service runs it."""

    def __init__(self, platform, cfg, settings, backend=None, recheck=None):
        """`platform`: the stores (npuhub.hub.platform.Platform) the queue runs on;
        `recheck`: what a job is allowed, asked again as it starts (hub/jobs/recheck.py)."""
        self.ledger, self.cfg, self.settings = platform.ledger, cfg, settings
        self.queue: JobQueue = platform.jobs
        # the line of servers waiting for NPUs, planned with the local jobs
        self.keeper = LineKeeper(
            self.ledger, platform.line, half_life_s=cfg.fairshare_half_life * 86400,
            session_limit_s=getattr(settings, "line_session_limit", None) or None,
        )
        self.backend = backend or make_backend(
            self.queue, self.ledger, cfg, settings, keeper=self.keeper
        )
        self.backend.recheck = recheck
        self._wake = asyncio.Event()
        self._ticks = 0
        self.task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        return asyncio.ensure_future(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        log.info("Batch jobs: %s backend, every %gs", self.backend.name, self.cfg.poll_interval)
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("The job scheduler's tick failed; will retry")
            try:
                await asyncio.wait_for(self._wake.wait(), self.cfg.poll_interval)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        await self.backend.watch()
        if self._ticks % RECONCILE_EVERY == 0:
            await self.reconcile()
        self._ticks += 1
        await self.backend.schedule()
        if self.backend.name != "local":  # the local backend plans the line with its jobs
            await self.keeper.schedule()

    async def reconcile(self) -> list[int]:
        """Release job allocations whose job is no longer active (a service that died
        between a job's end and its release)."""
        loop = asyncio.get_running_loop()
        active = await loop.run_in_executor(None, self.queue.in_state, ACTIVE)
        live = {(j.user, "job", str(j.id)) for j in active}
        released = await loop.run_in_executor(
            None, partial(self.ledger.reconcile, live, kind="job")
        )
        if released:
            log.warning("Released NPU allocation(s) of jobs that no longer run: %s", released)
        return released

    async def cancel(self, job: Job, by: str) -> bool:
        done = await self.backend.cancel(job, by)
        self.wake()
        return done

    async def cancel_by_id(self, job_id: int, reason: str) -> bool:
        """Cancel a job for the platform (a spent budget), `reason` shown to its user."""
        job = await asyncio.get_running_loop().run_in_executor(None, self.queue.get, job_id)
        if job is None or job.state not in ACTIVE:
            return False
        done = await self.backend.cancel(job, "npuhub", reason=reason)
        self.wake()
        return done

    async def logs(self, job: Job, offset: int) -> dict:
        """At most LOG_LIMIT bytes of the job's log from `offset` (the backend reads only
        that range, never the whole log)."""
        piece, start, size, final = await self.backend.log_range(job, offset, LOG_LIMIT)
        return log_piece(piece, start, size, final, LOG_LIMIT)


def start_jobs(platform, config_file: str | None, settings, recheck=None) -> Jobs:
    """Called by the platform service at start: read c.JobsConfig of `config_file`,
    start the scheduler."""
    from .config import load_jobs_config

    cfg = load_jobs_config(config_file, settings)
    jobs = Jobs(platform, cfg, settings, recheck=recheck)
    jobs.task = jobs.start()
    return jobs
