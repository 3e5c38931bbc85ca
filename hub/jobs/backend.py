"""Batch jobs in the service: the backend chosen by ``c.JobsConfig.backend``, the
scheduler loop, and the Slurm adapter.

:class:`Jobs` is what the service holds: its loop ticks every ``poll_interval`` seconds
(and at once after a submission): the backend watches what runs, the ledger is
reconciled with the jobs that are active, the backend starts what it can. Both backends
charge NPU-hours through ledger allocations of kind "job" (holder: the job id): the
local one holds real devices from the start of the container, the Slurm one opens a
record without local devices when Slurm starts the job. The quota is checked at submit
(what can never fit) and again before a job is started or handed to sbatch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from functools import partial

from npuhub.hub import clock, quota
from npuhub.hub.ledger import LedgerError

from .common import home_volume, log_chunk
from .models import ACTIVE, TERMINAL, Job
from .queue import JobQueue
from .sbatch import InvalidJob, JobSpec, SlurmConfig, job_name
from .slurm import SlurmBackend, SlurmError, SlurmJobUnknown

log = logging.getLogger("npuhub.jobs")
RECONCILE_EVERY = 15  # ticks
UNKNOWN_TICKS = 30  # ticks a Slurm job may be unknown before it is recorded lost


def check_quota(ledger, *, user, groups, account, npus, profile=None, holding=True) -> str:
    """The account a job is charged to, or QuotaError. `holding=False` (at submit): only
    what can never fit (per-job size, budget spent, profile); True (at start): also what
    the user and the account hold now."""
    charged, limits, held = ledger.limits_for(user, groups, account)
    if not holding:
        held = dataclasses.replace(held, user_npus=0, account_npus=0)
    quota.check(npus, limits, held, profile=profile)
    return charged


def slurm_config(cfg) -> SlurmConfig:
    return SlurmConfig(
        partition=cfg.slurm_partition or None,
        account=cfg.slurm_account or None,
        device_dir=cfg.slurm_device_dir,
        docker=cfg.docker,
        log_dir=cfg.slurm_log_dir,
        memory=cfg.slurm_memory,
        pids_limit=cfg.pids_limit,
        stop_timeout=cfg.stop_timeout,
        slurm_conf=cfg.slurm_conf or None,
    )


def job_spec(job: Job, prefix: str) -> JobSpec:
    return JobSpec(
        id=job.id,
        user=job.user,
        name=job.name,
        source=job.source,
        npus=job.npus,
        time_limit=job.time_limit,
        parameters=dict(job.parameters or {}),
        image=job.image,
        home_volume=home_volume(prefix, job.user),
        datasets=tuple((src, name) for src, name in job.datasets or []),
    )


class _Base:
    def __init__(self, queue: JobQueue, ledger, cfg):
        self.queue, self.ledger, self.cfg = queue, ledger, cfg
        self._starting: set[int] = set()

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    async def _release(self, job: Job) -> None:
        alloc = await self._run(self.queue.allocation_of, job)
        if alloc is not None:
            await self._run(self.ledger.release, alloc, reason="job ended")


class SlurmJobs(_Base):
    """Jobs handed to Slurm; npuhub's queue only holds them until the quota allows."""

    name = "slurm"

    def __init__(self, queue, ledger, cfg, slurm: SlurmBackend | None = None):
        super().__init__(queue, ledger, cfg)
        self.slurm = slurm or SlurmBackend(slurm_config(cfg))
        self._unknown: dict[int, int] = {}

    async def watch(self) -> None:
        for job in await self._run(self.queue.in_state, ACTIVE[1:], self.name):
            if job.id in self._starting:
                continue
            if job.state == "starting":
                await self._recover(job)
                continue
            try:
                state, code, reason = await self._run(self.slurm.state, job.backend_id)
            except SlurmJobUnknown:
                self._unknown[job.id] = self._unknown.get(job.id, 0) + 1
                if self._unknown[job.id] >= UNKNOWN_TICKS:
                    await self._end(job, "failed", "Slurm no longer knows this job", None)
                continue
            except SlurmError as e:
                log.warning("Slurm state of job %s: %s", job.id, e)
                continue
            self._unknown.pop(job.id, None)
            if state == "running" and job.state == "submitted":
                devices = await self._run(self.slurm.granted_devices, job.backend_id)
                if await self._run(
                    self.queue.move,
                    job.id,
                    ["submitted"],
                    "running",
                    started=clock.utcnow(),
                    devices=devices,
                    reason=reason,
                ):
                    await self._run(self.queue.open_charge, job)
            elif state in TERMINAL:
                await self._end(job, state, reason, code)
            elif reason != job.reason:
                await self._run(self.queue.note, job.id, job.state, reason)

    async def _end(self, job: Job, state: str, reason: str, code: int | None) -> None:
        if await self._run(self.queue.finish, job.id, state, reason, code):
            await self._release(job)

    async def _recover(self, job: Job) -> None:
        """A job a previous service left `starting`: sbatch may have taken it."""
        argv = [self.slurm.cfg.squeue, "-h", "-n", job_name(job_spec(job, "x")), "-o", "%i"]
        proc = await self._run(self.slurm._run, argv)
        found = proc.stdout.split()
        if found:
            await self._run(
                self.queue.move,
                job.id,
                ["starting"],
                "submitted",
                backend_id=found[0],
                reason="submitted to Slurm",
            )
        else:
            await self._run(self.queue.move, job.id, ["starting"], "queued", reason="queued again")

    async def schedule(self) -> None:
        for job in await self._run(self.queue.in_state, ["queued"], self.name):
            try:
                await self._run(
                    check_quota,
                    self.ledger,
                    user=job.user,
                    groups=job.groups,
                    account=job.account,
                    npus=job.npus,
                    profile=job.profile,
                )
            except LedgerError as e:
                reason = f"waiting for quota: {e}"
                if reason != job.reason:
                    await self._run(self.queue.note, job.id, "queued", reason)
                continue
            if not await self._run(self.queue.claim, job.id):
                continue
            self._starting.add(job.id)
            try:
                slurm_id = await self._run(self.slurm.submit, job_spec(job, self.cfg.prefix))
            except (InvalidJob, SlurmError) as e:
                await self._end(job, "failed", f"Slurm refused the job: {e}", None)
                continue
            finally:
                self._starting.discard(job.id)
            if not await self._run(
                self.queue.move,
                job.id,
                ["starting"],
                "submitted",
                backend_id=slurm_id,
                reason="submitted to Slurm",
            ):
                await self._scancel(slurm_id)  # cancelled while it was submitted

    async def _scancel(self, slurm_id: str) -> None:
        try:
            await self._run(self.slurm.cancel, slurm_id)
        except SlurmJobUnknown:
            pass

    async def cancel(self, job: Job, by: str) -> bool:
        if not await self._run(self.queue.finish, job.id, "cancelled", f"cancelled by {by}"):
            return False
        if job.backend_id:
            await self._scancel(job.backend_id)
        await self._release(job)
        return True

    async def log_bytes(self, job: Job) -> tuple[bytes, bool]:
        final = job.state in TERMINAL
        if not job.backend_id:
            return b"", final

        def read() -> bytes:
            try:
                with open(self.slurm.log(job.backend_id), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""

        return await self._run(read), final


def make_backend(queue: JobQueue, ledger, cfg, settings):
    if cfg.backend == "slurm":
        return SlurmJobs(queue, ledger, cfg)
    from .local import LocalBackend

    return LocalBackend(queue, ledger, cfg, settings.path("job-logs"))


class Jobs:
    """The batch queue as the service runs it."""

    def __init__(self, ledger, cfg, settings, backend=None):
        self.ledger, self.cfg, self.settings = ledger, cfg, settings
        self.queue = JobQueue(ledger.session_factory)
        self.backend = backend or make_backend(self.queue, ledger, cfg, settings)
        self._wake = asyncio.Event()
        self._ticks = 0

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

    async def logs(self, job: Job, offset: int) -> dict:
        data, final = await self.backend.log_bytes(job)
        return log_chunk(data, offset, final)


def start_jobs(app, settings) -> Jobs:
    """Called by the service's main(): read c.JobsConfig, start the scheduler."""
    from .config import load_jobs_config

    cfg = load_jobs_config(os.environ.get("NPUHUB_CONFIG") or None, settings)
    jobs = Jobs(app.settings["ledger"], cfg, settings)
    app.settings["jobs"] = jobs
    app.settings["jobs_task"] = jobs.start()
    return jobs
