"""SlurmNPUSpawner: cluster mode, where every user server is a Slurm job.

It keeps NPUSpawner's spawn form, options and profiles (`apply_user_options` resolves the
request) and replaces the lifecycle:

- `start`: the quota is checked and the NPUs reserved in the ledger (one transaction,
  :meth:`Ledger.allocate` with ``place=False``), then `sbatch` with ``--gres=npu:N``, the
  profile's ``partition`` and the session limit as ``--time``. While the job waits, the
  spawn page shows its place among the pending jobs of its partition and Slurm's estimated
  start. Once it runs, the job reports ``npuhub=ADDR:PORT`` in its Comment
  (:mod:`.slurm_script`); the devices Slurm granted go into the ledger and the hub routes
  to ADDR:PORT. A job that ends before its server answers fails the start at once with
  Slurm's reason.
- ``wait: false`` (user_options): a job Slurm does not start at once is cancelled and
  the request refused with the capacity refusal of single-host mode (:mod:`.slurm_room`).
- `poll`: ``scontrol show job``; a controller that does not answer is asked again, and
  if it still does not the server is taken as running (never as stopped).
- `stop`: ``scancel`` (a pending job leaves the line); the job stops its container.
- state: the Slurm job id, node, address and the ledger allocation, so a restarted hub
  finds the server again.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from jupyterhub.utils import wait_for_http_server
from tornado import web
from traitlets import Bool, Float, Integer, Unicode, default

from npuhub.hub import i18n
from npuhub.hub.containers import home_volume
from npuhub.hub.datasets.catalog import DatasetError, user_folder
from npuhub.hub.datasets.node_step import helper_argv, spec_for
from npuhub.hub.datasets.store import wanted_datasets
from npuhub.hub.jobs.node_facts import MAX_FACTS, facts_path, parse_node_facts
from npuhub.hub.ledger import LedgerError
from npuhub.hub.platform import platform_for
from npuhub.hub.sessions import session_provenance

from .npu import NPUSpawner
from .slurm_query import (
    SlurmCommandError,
    SlurmUnreachable,
    job_info,
    queue_position,
    sbatch,
    scancel,
)
from .slurm_room import must_wait, why_not_now
from .slurm_script import ServerJob, sbatch_args, server_script


class SlurmNPUSpawner(NPUSpawner):
    """A user server as a Slurm job on whichever node Slurm picks."""

    slurm_conf = Unicode("", help="SLURM_CONF for sbatch/scontrol (empty: Slurm's default).").tag(
        config=True
    )
    partition = Unicode("", help="Partition of profiles that name none (empty: the default).").tag(
        config=True
    )
    session_limit = Integer(8 * 3600, min=60, help="--time of a server job, in seconds.").tag(
        config=True
    )
    slurm_memory = Unicode("1G", help="--mem of a server job (what Slurm reserves).").tag(
        config=True
    )
    device_dir = Unicode("/dev", help="Where gres.conf's npu files live on the nodes.").tag(
        config=True
    )
    per_node_devices = Bool(
        False, help="Device files of node N in {device_dir}/N (several slurmd on one host)."
    ).tag(config=True)
    shared_dir = Unicode(
        help="Folder the hub and every node share: env files (mode 0600) and Slurm logs."
    ).tag(config=True)
    slurm_poll = Float(0.5, help="Seconds between looks at a starting job.").tag(config=True)
    node_python = Unicode(
        sys.executable,
        help="Python with npuhub on the nodes (same path there); it mounts the datasets on "
        "a server's node (hub/datasets/node_mount.py). Empty: the hub's host mounts them.",
    ).tag(config=True)
    slurm_decision_timeout = Float(
        5.0, help="wait: false — seconds the controller has to start a job before it is "
        "refused (it decides at submission unless SchedulerParameters defers it).",
    ).tag(config=True)

    job_id = Unicode("")
    node = Unicode("")
    _queue: tuple[int | None, str | None] = (None, None)
    _job_state = ""

    @default("start_timeout")
    def _start_timeout_default(self):
        return 24 * 3600  # a job may wait in Slurm's queue; Stop leaves the line

    # ---------------------------------------------------------------- state

    def get_state(self):
        state = super().get_state()
        if self.job_id:
            state.update(job_id=self.job_id, node=self.node, ip=self.ip, port=self.port)
        return state

    def load_state(self, state):
        super().load_state(state)
        self.job_id = state.get("job_id", "")
        self.node = state.get("node", "")
        if state.get("port"):
            self.ip, self.port = state.get("ip", self.ip), int(state["port"])

    def clear_state(self):
        super().clear_state()
        self.job_id = self.node = ""

    # ---------------------------------------------------------------- files

    @property
    def _folder(self) -> Path:
        return Path(self.shared_dir)

    def _env_file(self) -> Path:
        return self._folder / "servers" / f"{self.object_name}.env"

    def _write_env(self) -> str:
        env = self.get_env()
        for key in ("JUPYTERHUB_SERVICE_URL", "ASCEND_VISIBLE_DEVICES", "NPUHUB_NPUS"):
            env.pop(key, None)  # the job sets these (its address, Slurm's devices)
        path = self._env_file()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for key, value in sorted(env.items()):
                if "\n" not in str(value):
                    f.write(f"{key}={value}\n")
        return str(path)

    # ---------------------------------------------------------------- lifecycle

    async def _job(self, request) -> ServerJob:
        profile = next((p for p in self.profiles if p["slug"] == request.profile), {})
        folder, setup = await self._node_datasets()
        (self._folder / "logs").mkdir(parents=True, exist_ok=True)
        return ServerJob(
            name=self.object_name,
            label=f"{self.user.name}/{self.name}",
            image=request.image,
            npus=request.npus,
            partition=profile.get("partition") or self.partition or None,
            time_limit=self.session_limit,
            slurm_memory=self.slurm_memory,
            memory=str(self.mem_limit or "4G"),
            cpus=float(self.cpu_limit or 1),
            pids_limit=self.pids_limit,
            log_max_size=self.log_max_size,
            log_max_files=self.log_max_files,
            home_volume=home_volume(self.prefix, self.user.name),
            datasets_folder=folder,
            env_file=await self._in_executor(self._write_env),
            base_url=self.server.base_url,
            # not the image's Cmd: the hub's host need not have the image, the nodes do
            args=(*(self.cmd or ["jupyterhub-singleuser"]), *self.get_args()),
            device_dir=self.device_dir,
            per_node_devices=self.per_node_devices,
            driver_paths=tuple(self.driver_paths),
            log_dir=str(self._folder / "logs"),
            slurm_conf=self.slurm_conf or None,
            node_root=self.node_root or "/",
            datasets_setup=setup,
        )

    async def _node_datasets(self) -> tuple[str | None, tuple[str, ...]]:
        """The datasets folder and the command the job runs on its node before the
        container starts: it prepares the folder there and mounts the user's datasets
        (later mounts reach the running container through a step, node_step.py). Without
        node_python, the hub's host does it (single-host mode's way)."""
        if not self.mounts_root:
            return None, ()
        if not self.node_python:
            return await self._datasets_folder(), ()
        try:
            datasets = await self._in_executor(
                wanted_datasets, platform_for(self.db_url).datasets, self.user.name,
                [g.name for g in self.user.groups], bool(self.user.admin))
            spec = spec_for(self.mounts_root, self.user.name, datasets)
            setup = tuple(helper_argv(self.node_python, spec))
        except (DatasetError, ValueError, OSError) as e:
            self.log.warning("No datasets folder for %s: %s", self._log_name, e)
            return None, ()
        return str(user_folder(self.mounts_root, self.user.name)), setup

    async def start(self):
        request = self.spawn_request
        if request is None:
            raise RuntimeError(f"{self._log_name}: start without a resolved spawn request")
        self._allocated = False
        self._queue, self._job_state = (None, None), ""
        if self.job_id:  # a job of a start the hub did not see through (it restarted)
            self.log.warning("Cancelling Slurm job %s left by an earlier start of %s",
                             self.job_id, self._log_name)
            await self._cancel_job()
            self.job_id = ""
        try:
            grant = await self._in_executor(
                self.ledger.allocate, user=self.user.name,
                groups=[g.name for g in self.user.groups], account=request.account,
                kind="server", holder=self.name, npus=request.npus, profile=request.profile,
                place=False,  # Slurm places: the quota is checked and the NPUs counted now
            )
            self.allocation_id, self.account = grant.allocation_id, grant.account
        except LedgerError as e:
            raise web.HTTPError(e.status, e.message(i18n.language_of(self))) from None
        self.npus = request.npus
        self._allocated = True
        try:
            job = await self._job(request)
            try:
                self.job_id = await sbatch(sbatch_args(job), server_script(job),
                                           self.slurm_conf or None)
            except SlurmCommandError as e:
                raise web.HTTPError(503, f"Slurm refused the server: {e}") from None
            self.log.info("Server %s is Slurm job %s", self._log_name, self.job_id)
            self._save_state()
            if not request.wait:
                await self._start_now_or_refuse(request)
            info = await self._wait_running()
            self.node, (self.ip, self.port) = info.node, info.address
            await self._in_executor(self.ledger.hold_granted, self.allocation_id,
                                    info.node, info.indices)
            url = f"http://{self.ip}:{self.port}{self.server.base_url}api"
            await self._wait_http(url)
            await self._record_provenance(request, info.indices)
        except BaseException:
            await self._cancel_job()
            self._env_file().unlink(missing_ok=True)  # it holds the server's API token
            await self._release("failed")
            raise
        return self.ip, self.port

    async def _start_now_or_refuse(self, request) -> None:
        """wait: false. The controller's first decision about the job: it starts (go on)
        or it waits, and then the request is refused (start's cleanup cancels the job
        and frees the ledger's reservation)."""
        deadline = asyncio.get_running_loop().time() + self.slurm_decision_timeout
        while True:
            info = await job_info(self.job_id, self.slurm_conf or None)
            if info is None:
                return  # gone already: _wait_running says why
            waits = must_wait(info.state, info.reason)
            if waits is False:
                return
            if waits or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(self.slurm_poll)
        refusal = await why_not_now(info, request.npus, request.device_type,
                                    self.slurm_conf or None)
        self.log.info("%s may not wait and Slurm job %s cannot start now (%s): %s",
                      self._log_name, self.job_id, info.reason, refusal.code)
        raise web.HTTPError(refusal.status, refusal.message(i18n.language_of(self)))

    async def _wait_running(self):
        """Poll the job until it runs and reported its address; fail at once if it ends."""
        while True:
            try:
                info = await job_info(self.job_id, self.slurm_conf or None)
            except SlurmUnreachable as e:
                self.log.warning("%s; still waiting for %s", e, self._log_name)
                continue
            if info is None or not info.active:
                raise web.HTTPError(
                    503, self._failure(info.state if info else "gone", info, self._log_tail()))
            self._job_state = info.state
            if info.state == "PENDING":
                self._queue = await queue_position(self.job_id, info.partition,
                                                   self.slurm_conf or None)
            elif info.address is not None and info.node:
                return info
            await asyncio.sleep(self.slurm_poll)

    async def _wait_http(self, url: str) -> None:
        """Wait for the server to answer, failing at once if its job ends meanwhile."""
        waiter = asyncio.ensure_future(wait_for_http_server(url, timeout=self.ready_timeout))
        try:
            while not waiter.done():
                await asyncio.wait([waiter], timeout=1)
                if waiter.done():
                    break
                try:
                    info = await job_info(self.job_id, self.slurm_conf or None, tries=1)
                except SlurmUnreachable:
                    continue
                if info is None or not info.active:
                    raise web.HTTPError(503, self._failure("ended", info, self._log_tail()))
            waiter.result()
        finally:
            waiter.cancel()

    async def _record_provenance(self, request, indices=()) -> None:
        """Keep on the usage record what this session runs on (GET …/me/session): the
        node and NPUs Slurm granted, and what the job script found on the node (image
        digest, driver and CANN versions; hub/jobs/node_facts.py)."""
        if self.allocation_id is None:
            return
        path = facts_path(str(self._folder / "logs"), self.job_id)
        try:
            text = await self._in_executor(_read, path)
            facts = parse_node_facts(text or "")
            record = await self._in_executor(
                session_provenance, platform_for(self.db_url), user=self.user.name,
                server=self.name, account=self.account, profile=request.profile,
                image_ref=request.image, image_id=facts["image_id"],
                devices=[(self.node, i, None) for i in indices], node_root=self.node_root,
                versions=facts["versions"], backend="slurm",
                with_datasets=bool(self.mounts_root), allocation_id=self.allocation_id,
            )  # fmt: skip
        except Exception:  # a record missing is logged; it never fails a started server
            self.log.exception("No provenance recorded for %s", self._log_name)
            return
        self.log.debug("Provenance of %s: %s", self._log_name, record)

    def _save_state(self) -> None:
        """Keep the job id in the hub's database now, not only once the server runs: a
        hub restarted while the job waits still knows it (and cancels it on the next
        start instead of leaving it in the queue)."""
        orm = getattr(self, "orm_spawner", None)
        if orm is not None and getattr(self, "db", None) is not None:
            orm.state = self.get_state()
            self.db.commit()

    def _failure(self, what: str, info, tail: str) -> str:
        """Why the start failed, in the user's language: Slurm's state, reason, exit code
        and the last lines the job wrote."""
        _ = i18n.for_spawner(self).gettext
        state = info.state if info else what
        if info and info.reason not in ("None", ""):
            state += f" ({info.reason})"
        if info and info.exit_code:
            state += ", " + _("exit code {code}").format(code=info.exit_code)
        text = _("Slurm job {job} ended before the server answered: {state}").format(
            job=self.job_id, state=state
        )
        return text + (". " + _("Last output: {tail}").format(tail=tail) if tail else "")

    def _log_tail(self) -> str:
        path = self._folder / "logs" / f"slurm-{self.job_id}.out"
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])[-500:]

    async def _cancel_job(self) -> None:
        if not self.job_id:
            return
        try:
            await scancel(self.job_id, self.slurm_conf or None)
        except SlurmUnreachable as e:
            self.log.warning("Could not cancel %s: %s", self._log_name, e)

    async def stop(self, now=False):
        try:
            await self._cancel_job()
            if self.job_id and not now:
                for _ in range(40):  # until the job stopped its container
                    try:
                        info = await job_info(self.job_id, self.slurm_conf or None, tries=1)
                    except SlurmUnreachable:
                        break
                    if info is None or not info.active:
                        break
                    await asyncio.sleep(0.5)
            self._env_file().unlink(missing_ok=True)
            self.job_id = self.node = ""
        finally:
            await self._release("stopped")

    async def poll(self):
        if not self.job_id:
            return 0
        try:
            info = await job_info(self.job_id, self.slurm_conf or None)
        except SlurmUnreachable as e:
            self.log.warning("%s: taking %s as running", e, self._log_name)
            return None
        if info is not None and info.active:
            return None
        if self.allocation_id is not None:
            await self._release("crashed")
        return 1

    async def progress(self):
        _ = i18n.for_spawner(self).gettext
        yield {"progress": 10, "message": _("Allocating NPUs…")}
        last = None
        while self._spawn_pending:
            position, start = self._queue
            if self._job_state == "PENDING":
                message = _("Waiting in the Slurm queue: position {n}").format(n=position or "?")
                if start:
                    message += " · " + _("estimated start {time}").format(time=start)
            elif self._job_state:
                message = _("Starting your server on {node}…").format(node=self.node or "Slurm")
            else:
                message = _("Submitting to Slurm…")
            if message != last:
                yield {"progress": 20 if self._job_state == "PENDING" else 50, "message": message}
                last = message
            await asyncio.sleep(0.5)


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as f:
            return f.read(MAX_FACTS)
    except OSError:
        return None
