"""The local backend: jobs as containers on this host, NPUs from the same ledger as
notebooks.

Each tick of the service's scheduler (:class:`npuhub.hub.jobs.backend.Jobs`):

1. **watch** the jobs that run here: a container that exited is recorded as
   ``succeeded``/``failed`` (its log kept in the state dir, its NPUs released); one past
   its time limit is recorded ``timed_out`` and stopped. A job left ``starting`` by a
   service that died is put back in the queue, or adopted if its container runs. Jobs
   are found again by container name and labels, so a restarted service adopts them.
2. **schedule** the queue with :func:`npuhub.hub.scheduling.plan` (inputs from
   :mod:`.lineup`; through :class:`npuhub.hub.line.keeper.LineKeeper`, which plans the
   servers waiting in the line with the jobs and grants those): the line is ordered
   by priority, fair share and waiting time; the first job that cannot start gets a
   reservation and later ones start only where they do not delay it (EASY backfill,
   from the time limits); the ledger then holds exactly the devices the plan chose.

The container (:func:`container_spec`, pure) is hardened like a notebook's: uid
1000:100, no capabilities, no privilege gain, memory/CPU/process limits, no network
(``c.JobsConfig.network``), the granted devices only, no hub token.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from npuhub.hub import clock
from npuhub.hub.binding import Device
from npuhub.hub.datasets.store import DatasetStore
from npuhub.hub.ledger import CapacityError, LedgerError
from npuhub.hub.line.keeper import LineKeeper
from npuhub.hub.line.store import Line

from . import provenance
from .common import (
    HOME,
    LABEL,
    container_name,
    container_spec,
    exit_reason,
    hms,
    read_range,
)
from .models import TERMINAL, Job

log = logging.getLogger("npuhub.jobs.local")
TAIL = 64 * 1024  # bytes of the end of a log that say why a job failed


class LocalBackend:
    name = "local"
    recheck = None  # async (job) -> recheck.Recheck, set by the service (hub/jobs/recheck.py)

    def __init__(self, queue, ledger, cfg, log_dir: Path, client=None, keeper=None):
        """`keeper`: the line's scheduler (npuhub.hub.line.keeper.LineKeeper) that plans
        these jobs with the servers waiting for NPUs; by default one of its own."""
        self.queue, self.ledger, self.cfg = queue, ledger, cfg
        self.keeper = keeper or LineKeeper(
            ledger, Line(ledger.session_factory),
            half_life_s=cfg.fairshare_half_life * 86400, session_limit_s=None,
        )
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.client = client or docker.from_env(timeout=60)
        self._starting: set[int] = set()  # jobs this process is starting now
        self._busy: set[int] = set()  # jobs whose container is being stopped

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    async def _move(self, job: Job, to: str, **values) -> bool:
        """starting → `to` (reason "running" unless given), if still starting."""
        values.setdefault("reason", to)
        return await self._run(self.queue.move, job.id, ["starting"], to, **values)

    def _container(self, job_id: int):
        return self.client.containers.get(container_name(self.cfg.prefix, job_id))

    def log_file(self, job_id: int) -> Path:
        return self.log_dir / f"{job_id}.log"

    # ---------------------------------------------------------------- watch

    def _containers(self) -> dict[int, object]:
        found = self.client.containers.list(
            all=True, filters={"label": [LABEL, f"npuhub.prefix={self.cfg.prefix}"]}
        )
        return {int(c.labels[LABEL]): c for c in found if c.labels.get(LABEL, "").isdigit()}

    async def watch(self) -> None:
        containers = await self._run(self._containers)
        active = await self._run(self.queue.in_state, ["starting", "running"], self.name)
        ids = {j.id for j in active}
        now = clock.utcnow()
        for job in active:
            c = containers.get(job.id)
            if job.id in self._starting or job.id in self._busy:
                continue
            if job.state == "starting":
                await self._recover(job, c)
            elif c is None:
                if await self._run(self.queue.finish, job.id, "failed", "its container vanished"):
                    await self._release(job)
            elif c.status in ("exited", "dead"):
                await self._ended(job, c)
            elif job.started and now - job.started >= timedelta(seconds=job.time_limit):
                reason = f"time limit of {hms(job.time_limit)} reached"
                if await self._run(self.queue.finish, job.id, "timed_out", reason):
                    await self.stop(job)
        for job_id, c in containers.items():  # jobs ended elsewhere (cancelled), or gone
            if job_id in ids or job_id in self._busy:
                continue
            if c.status == "running":
                job = await self._run(self.queue.get, job_id)
                if job is None or job.state in TERMINAL:
                    await self.stop(job or Job(id=job_id, user=c.labels.get("npuhub.user", "")))
            else:
                await self._save_log(job_id, c)
                await self._remove(c)

    async def _ended(self, job: Job, c) -> None:
        await self._run(c.reload)
        state = c.attrs.get("State", {})
        code = int(state.get("ExitCode", -1))
        text = await self._save_log(job.id, c)
        if state.get("OOMKilled"):
            verdict, reason = "failed", f"ran out of memory (limit {self.cfg.memory})"
        elif code == 0:
            verdict, reason = "succeeded", "completed"
        else:
            verdict, reason = "failed", exit_reason(text, code)
        if await self._run(self.queue.finish, job.id, verdict, reason, code):
            await self._release(job)
        await self._remove(c)

    async def _recover(self, job: Job, c) -> None:
        """A job a previous service left `starting`: adopt its container if it runs, else
        queue it again (its devices back in the ledger first)."""
        if c is not None and c.status == "running":
            await self._move(job, "running", started=clock.utcnow(), backend_id=c.id)
            return
        if c is not None:
            await self._remove(c)
        await self._release(job)
        await self._move(job, "queued", reason="queued again")

    # ---------------------------------------------------------------- schedule

    async def schedule(self) -> None:
        queued = await self._run(self.queue.in_state, ["queued"], self.name)
        active = []
        if queued:
            active = await self._run(self.queue.in_state, ["starting", "running"], self.name)
        # one plan for the queued jobs and the servers waiting in the line
        decision = await self.keeper.schedule(queued, active)
        by_id = {j.id: j for j in queued}
        for job_id, devices in decision.jobs:
            await self._try_start(by_id[job_id], devices)
        line = [by_id[i] for i in decision.waiting_jobs]
        for job in line:
            if job is line[0]:
                reason = await self._run(
                    self.ledger.capacity_message, job.npus, job.device_type, user=job.user
                )
            else:
                reason = f"waiting behind job {line[0].id}, first in line"
            await self._wait(job, reason)

    async def _wait(self, job: Job, reason: str) -> None:
        if job.reason != reason:
            await self._run(self.queue.note, job.id, "queued", reason)

    async def _try_start(self, job: Job, devices) -> str:
        if not await self._run(self.queue.claim, job.id):
            return "skip"
        self._starting.add(job.id)
        try:
            return await self._start(job, devices)
        finally:
            self._starting.discard(job.id)

    async def _start(self, job: Job, devices) -> str:
        if self.recheck is not None:
            now = await self.recheck(job)
            if now.refused:
                await self._run(self.queue.finish, job.id, "failed",
                                f"not started: {now.refused}")
                return "started"  # it left the queue
            job.groups, job.datasets = now.groups, now.datasets
        try:
            grant = await self._run(
                self.ledger.allocate,
                user=job.user,
                groups=job.groups,
                account=job.account,
                kind="job",
                holder=str(job.id),
                npus=job.npus,
                profile=job.profile,
                device_type=job.device_type,
                devices=devices,
            )
        except LedgerError as e:
            capacity = isinstance(e, CapacityError)
            reason = str(e) if capacity else f"waiting for quota: {e}"
            await self._move(job, "queued", reason=reason)
            job.reason = reason
            return "capacity" if capacity else "quota"
        devices = [Device(n, i, p) for n, i, p in grant.devices]
        spec = container_spec(job, devices, self.cfg)
        try:
            c, prov = await self._run(self._create_and_start, spec, job, grant.devices)
        except (APIError, ImageNotFound) as e:
            await self._run(self.ledger.release, grant.allocation_id, reason="failed")
            why = getattr(e, "explanation", None) or str(e)
            await self._run(self.queue.finish, job.id, "failed", f"could not start: {why}")
            return "started"  # it left the queue
        ok = await self._move(
            job,
            "running",
            started=clock.utcnow(),
            backend_id=c.id,
            allocation_id=grant.allocation_id,
            devices=[i for _, i, _ in grant.devices],
            provenance=prov,
        )
        if not ok:  # cancelled while it started
            await self.stop(job)
        else:
            if prov is not None:  # on the usage record too, as a session's
                await self._run(self.ledger.usage.set_provenance, grant.allocation_id, prov)
            log.info("Started job %s of %s on NPUs %s", job.id, job.user, grant.devices)
        return "started"

    def _create_and_start(self, spec: dict, job: Job, devices) -> tuple[object, dict | None]:
        """The job's container, started, and its provenance (written into the home as
        ~/jobs/{id}/provenance.json before the job runs)."""
        try:
            c = self.client.containers.create(**spec)
        except APIError as e:
            if e.status_code != 409:
                raise
            old = self.client.containers.get(spec["name"])  # never two of one job
            if old.status == "running":
                return old, None
            old.remove(force=True)
            c = self.client.containers.create(**spec)
        prov = self._provenance(c, job, devices)
        c.put_archive(HOME, provenance.as_file(prov, job.id))
        c.start()
        return c, prov

    def _provenance(self, c, job: Job, devices) -> dict:
        try:
            stream, _ = c.get_archive(f"{HOME}/{job.source}")
            sha = provenance.sha256_of_tar_member(stream)
        except NotFound:
            sha = None  # the runner says the source is missing
        store = DatasetStore(self.ledger.session_factory)
        datasets = []
        for _, name in job.datasets or []:
            d = store.get(name)
            datasets.append({"name": name, "version": d["version"] if d else None})
        return provenance.record(
            job,
            image_id=c.attrs.get("Image"),
            devices=devices,
            datasets=datasets,
            source_sha256=sha,
            versions=provenance.node_versions(self.cfg.node_root),
            backend=self.name,
        )

    # ---------------------------------------------------------------- stop, logs

    async def stop(self, job: Job) -> None:
        """Stop and remove a job's container (its end is already recorded), keep its
        log, release its NPUs."""
        self._busy.add(job.id)
        try:
            try:
                c = await self._run(self._container, job.id)
            except NotFound:
                c = None
            if c is not None:
                try:
                    await self._run(c.stop, timeout=self.cfg.stop_timeout)
                except NotFound:
                    pass
                await self._save_log(job.id, c)
                await self._remove(c)
            await self._release(job)
        finally:
            self._busy.discard(job.id)

    async def cancel(self, job: Job, by: str, reason: str | None = None) -> bool:
        reason = reason or f"cancelled by {by}"
        if not await self._run(self.queue.finish, job.id, "cancelled", reason):
            return False
        await self.stop(job)
        return True

    async def _release(self, job: Job) -> None:
        await self._run(self.ledger.release_job, job.user, job.id, reason="job ended")

    async def _save_log(self, job_id: int, c) -> bytes:
        path = self.log_file(job_id)
        try:
            return await self._run(_save_stream, c, path)
        except NotFound:
            return await self._run(_tail, path)

    async def _remove(self, c) -> None:
        try:
            await self._run(c.remove, force=True)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:  # removal already in progress
                raise

    async def log_range(self, job: Job, offset: int, limit: int):
        """(at most `limit` bytes from `offset`, where they start, the log's size so far,
        whether it is complete) of the job's output: a range of the kept log file, or of
        the running container's log read as a stream up to that range."""
        path = self.log_file(job.id)
        if path.exists():
            piece, start, size = await self._run(read_range, path, offset, limit)
            return piece, start, size, job.state in TERMINAL
        try:
            c = await self._run(self._container, job.id)
            piece, start = await self._run(_stream_range, c, max(int(offset), 0), limit)
            return piece, start, start + len(piece), False
        except NotFound:
            return b"", 0, 0, job.state in TERMINAL


def _save_stream(c, path: Path) -> bytes:
    """Write container `c`'s log to `path` as a stream (Docker caps its size: the
    container's log_config); its last TAIL bytes (for exit_reason)."""
    tail = b""
    part = path.with_suffix(".part")
    with open(part, "wb") as f:
        for chunk in c.logs(stdout=True, stderr=True, stream=True, follow=False):
            f.write(chunk)
            tail = (tail + chunk)[-TAIL:]
    part.replace(path)
    return tail


def _tail(path: Path) -> bytes:
    """The last TAIL bytes of a kept log (empty if there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, 2) - TAIL, 0))
            return f.read()
    except FileNotFoundError:
        return b""


def _stream_range(c, offset: int, limit: int) -> tuple[bytes, int]:
    """At most `limit` bytes of container `c`'s log from `offset` (clamped to its end),
    reading the log as a stream: never more than one chunk beyond what is kept."""
    seen, kept = 0, bytearray()
    stream = c.logs(stdout=True, stderr=True, stream=True, follow=False)
    try:
        for chunk in stream:
            if seen + len(chunk) > offset:
                kept += chunk[max(offset - seen, 0) :]
            seen += len(chunk)
            if len(kept) >= limit:
                break
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    return bytes(kept[:limit]), min(offset, seen)
