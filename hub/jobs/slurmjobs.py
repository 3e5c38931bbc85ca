"""The Slurm backend as the scheduler runs it: npuhub's queue holds a job until the
quota allows it (counting the NPUs of the user's jobs that Slurm has not started yet),
then hands it to sbatch (:mod:`.slurm`, :mod:`.sbatch`) and follows it with scontrol
and sacct; the NPU-hours are charged from the moment Slurm runs it to its end. A job the
service left ``starting`` when it died is found again in squeue by its name, never
submitted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from functools import partial

from npuhub.hub import clock
from npuhub.hub.datasets.store import DatasetStore
from npuhub.hub.ledger import LedgerError

from .common import home_volume, read_range
from .models import ACTIVE, TERMINAL, Job
from .node_facts import MAX_FACTS, facts_path, job_record, parse_node_facts, record_path
from .queue import JobQueue, check_quota
from .sbatch import InvalidJob, JobSpec, SlurmConfig, job_name
from .slurm import SlurmBackend, SlurmError, SlurmJobUnknown

log = logging.getLogger("npuhub.jobs.slurm")
UNKNOWN_TICKS = 30  # ticks a Slurm job may be unknown before it is recorded lost


def slurm_config(cfg) -> SlurmConfig:
    return SlurmConfig(
        partition=cfg.slurm_partition or None,
        account=cfg.slurm_account or None,
        device_dir=cfg.slurm_device_dir,
        docker=cfg.docker,
        log_dir=cfg.slurm_log_dir,
        memory=cfg.slurm_memory,
        pids_limit=cfg.pids_limit,
        log_max_size=cfg.log_max_size,
        log_max_files=cfg.log_max_files,
        driver_paths=tuple(cfg.driver_paths or ()),
        stop_timeout=cfg.stop_timeout,
        slurm_conf=cfg.slurm_conf or None,
        container_prefix=cfg.prefix or "npuhub",
        node_root=cfg.node_root or "/",
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


class SlurmJobs:
    """Jobs handed to Slurm; npuhub's queue only holds them until the quota allows."""

    name = "slurm"
    recheck = None  # async (job) -> recheck.Recheck, set by the service (hub/jobs/recheck.py)

    def __init__(self, queue: JobQueue, ledger, cfg, slurm: SlurmBackend | None = None):
        self.queue, self.ledger, self.cfg = queue, ledger, cfg
        self.slurm = slurm or SlurmBackend(slurm_config(cfg))
        self._starting: set[int] = set()  # jobs this process is submitting now
        self._unknown: dict[int, int] = {}

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    async def _release(self, job: Job) -> None:
        await self._run(self.ledger.release_job, job.user, job.id, reason="job ended")

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
                    job.state, job.allocation_id = "running", await self._charge(job, devices)
                    await self._record(job)
            elif state in TERMINAL:
                await self._end(job, state, reason, code)
            else:
                if reason != job.reason:
                    await self._run(self.queue.note, job.id, job.state, reason)
                if job.state == "running":
                    await self._record(job)

    async def _charge(self, job: Job, devices=()) -> int:
        alloc = await self._run(
            self.ledger.charge_job, user=job.user, account=job.account, job_id=job.id,
            npus=job.npus, profile=job.profile,
        )
        node = await self._run(self.slurm.granted_node, job.backend_id)
        if node and devices:  # the ledger shows the node and chips Slurm chose
            await self._run(self.ledger.hold_granted, alloc, node, devices)
        await self._run(self.queue.move, job.id, ["running"], "running", allocation_id=alloc)
        return alloc

    async def _record(self, job: Job) -> None:
        """Once the job script wrote what it runs on (node_facts), merge it with the hub's
        facts into the job's record: on the job, on its usage record, and beside the facts
        for the script to put at ~/jobs/{id}/provenance.json."""
        if job.provenance is not None or not job.backend_id:
            return
        cfg = self.slurm.cfg
        text = await self._run(_read, facts_path(cfg.log_dir, job.backend_id))
        if text is None:
            return  # not yet written: asked again on the next tick
        datasets = await self._run(self._dataset_versions, job)
        prov = job_record(job, parse_node_facts(text), datasets)
        await self._run(_write, record_path(cfg.log_dir, job.backend_id), prov)
        if await self._run(self.queue.move, job.id, [job.state], job.state, provenance=prov):
            job.provenance = prov
            if job.allocation_id is not None:
                await self._run(self.ledger.usage.set_provenance, job.allocation_id, prov)

    def _dataset_versions(self, job: Job) -> list[dict]:
        store = DatasetStore(self.ledger.session_factory)
        out = []
        for _, name in job.datasets or []:
            d = store.get(name)
            out.append({"name": name, "version": d["version"] if d else None})
        return out

    async def _end(self, job: Job, state: str, reason: str, code: int | None) -> None:
        if job.state in ("submitted", "running"):  # a short job may end before a tick
            await self._record(job)
        if await self._run(self.queue.finish, job.id, state, reason, code):
            await self._release(job)

    async def _recover(self, job: Job) -> None:
        """A job a previous service left `starting`: sbatch may have taken it. Jobs that
        already ended count too (``-t all``: one that finished while the service was down
        is recorded, never submitted again); a controller that does not answer decides
        nothing (asked again on the next tick)."""
        argv = [self.slurm.cfg.squeue, "-h", "-t", "all", "-n", job_name(job_spec(job, "x")),
                "-o", "%i"]
        proc = await self._run(self.slurm._run, argv)
        if proc.returncode != 0:
            log.warning("squeue for job %s left starting: %s", job.id, proc.stderr.strip())
            return
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
        waiting = await self._run(self.queue.in_state, ["starting", "submitted"], self.name)
        for job in await self._run(self.queue.in_state, ["queued"], self.name):
            pending = (
                sum(j.npus for j in waiting if j.user == job.user),
                sum(j.npus for j in waiting if j.account == job.account),
            )
            try:
                await self._run(
                    check_quota,
                    self.ledger,
                    user=job.user,
                    groups=job.groups,
                    account=job.account,
                    npus=job.npus,
                    profile=job.profile,
                    pending=pending,
                )
            except LedgerError as e:
                reason = f"waiting for quota: {e}"
                if reason != job.reason:
                    await self._run(self.queue.note, job.id, "queued", reason)
                continue
            if not await self._run(self.queue.claim, job.id):
                continue
            if self.recheck is not None:
                now = await self.recheck(job)
                if now.refused:
                    await self._end(job, "failed", f"not started: {now.refused}", None)
                    continue
                job.groups, job.datasets = now.groups, now.datasets
            waiting.append(job)
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

    async def cancel(self, job: Job, by: str, reason: str | None = None) -> bool:
        reason = reason or f"cancelled by {by}"
        if not await self._run(self.queue.finish, job.id, "cancelled", reason):
            return False
        if job.backend_id:
            await self._scancel(job.backend_id)
        await self._release(job)
        return True

    async def log_range(self, job: Job, offset: int, limit: int):
        """(at most `limit` bytes from `offset`, where they start, the log's size, whether
        it is complete) of the job's Slurm log."""
        final = job.state in TERMINAL
        if not job.backend_id:
            return b"", 0, 0, final
        piece, start, size = await self._run(
            read_range, self.slurm.log(job.backend_id), offset, limit
        )
        return piece, start, size, final


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as f:
            return f.read(MAX_FACTS)
    except OSError:
        return None


def _write(path: str, record: dict) -> None:
    """Write atomically, readable on the node (the script copies it into the home)."""
    part = f"{path}.part"
    with open(part, "w") as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.chmod(part, 0o644)
    os.replace(part, path)
