"""NPUSpawner: DockerSpawner whose containers are bound to the NPUs the ledger grants.

It overrides a few hooks and keeps DockerSpawner's lifecycle: `apply_user_options`
resolves the request once (:mod:`.request`); `start` wraps the inherited one with
allocation (or a wait in the line for NPUs: :mod:`.waiting`), admission and a readiness
wait; the container's devices, hardening and
datasets reach DockerSpawner through its callable `extra_host_config` (built by
:func:`npuhub.hub.containers.server_container`); `stop`/`poll` release the devices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

from dockerspawner import DockerSpawner
from jupyterhub.utils import wait_for_http_server
from tornado import web
from traitlets import Dict, Integer, List, TraitError, Unicode, default, validate

from npuhub.hub import i18n
from npuhub.hub.binding import DEFAULT_DRIVER_PATHS, MODES, Device
from npuhub.hub.containers import CONTAINER_USER, HOME, server_container
from npuhub.hub.datasets.catalog import DatasetError
from npuhub.hub.datasets.mounter import MountError
from npuhub.hub.datasets.store import restore_user
from npuhub.hub.ledger import CapacityError, LedgerError
from npuhub.hub.platform import platform_for
from npuhub.hub.profile_lookup import profile_rules
from npuhub.hub.sessions import session_provenance

from . import home
from .admission import Admission
from .options_form import render_options_form
from .request import InvalidOptions, SpawnRequest, resolve
from .waiting import LineWait


class NPUSpawner(DockerSpawner):
    """A DockerSpawner that holds NPUs from the npuhub ledger for each server."""

    db_url = Unicode(help="SQLAlchemy URL of the platform database (the NPU ledger).").tag(
        config=True
    )
    profiles = List(Dict(), help="Profiles offered (see c.NPUHub.profiles).").tag(config=True)
    binding_mode = Unicode(
        "devices",
        help=f"How NPUs reach the container: one of {', '.join(MODES)}.",
    ).tag(config=True)
    driver_paths = List(
        Unicode(),
        default_value=list(DEFAULT_DRIVER_PATHS),
        help="Host paths of the Ascend driver, bind-mounted read-only where present.",
    ).tag(config=True)
    spawn_concurrency = Integer(4, min=1, help="Containers starting at once.").tag(config=True)
    ready_timeout = Integer(
        180, help="Seconds a server may take to answer once its start was admitted."
    ).tag(config=True)
    pids_limit = Integer(512, help="Process limit of each container.").tag(config=True)
    log_max_size = Unicode(
        "10m", help="Size of a server container's log file before Docker rotates it."
    ).tag(config=True)
    log_max_files = Integer(3, min=1, help="Log files Docker keeps of a server.").tag(
        config=True
    )
    home_size = Unicode(
        "",
        help="""Size limit of each user's home volume, e.g. 10G (empty: none). Docker
        enforces it where its volumes live on XFS with project quotas; elsewhere the hub
        says once in its log that it is not enforced (see README, Operations).""",
    ).tag(config=True)

    @validate("home_size")
    def _validate_home_size(self, proposal):
        try:
            return home.check_size(proposal["value"])
        except ValueError as e:
            raise TraitError(str(e)) from None

    api_url = Unicode(help="NPUHUB_API_URL given to the container.").tag(config=True)
    outbound_network_name = Unicode(
        "npuhub-out",
        help="""Docker network of the servers of profiles with "internet": True (not
        internal; c.NPUSpawner.network_name is the internal one of the others).""",
    ).tag(config=True)
    node_root = Unicode(
        "/",
        help="""Where this node's file system is read for a session's provenance: its NPU
        driver and CANN versions (see c.JobsConfig.node_root).""",
    ).tag(config=True)
    mounts_root = Unicode(
        "",
        help="""Host folder of the per-user dataset folders: <mounts_root>/<user> is
        bind-mounted at /home/jovyan/datasets (rslave, so datasets mounted later appear
        live) and the user's remembered datasets are mounted at start. Empty: none.""",
    ).tag(config=True)

    line_max_wait = Integer(
        4 * 3600, min=1,
        help="Seconds a request may wait in the line for NPUs (c.NPUHub.line_max_wait).",
    ).tag(config=True)
    line_session_limit = Integer(
        8 * 3600, min=0,
        help="Expected length of a session without max_session_hours "
        "(c.NPUHub.line_session_limit; 0: unknown).",
    ).tag(config=True)

    allocation_id = Integer(None, allow_none=True)
    npus = Integer(0)
    account = Unicode("")

    _admission: Admission | None = None
    _allocated = False  # this start's NPUs are granted (progress waits for it)
    _devices: Sequence[Device] = ()  # this start's devices (from the grant)
    _line: LineWait | None = None  # this start's wait in the line, while it waits
    spawn_request: SpawnRequest | None = None  # set by apply_user_options, read by start
    _internal_network: str | None = None  # the configured network_name, before a profile's

    # ---------------------------------------------------------------- configuration

    @default("network_name")
    def _network_default(self):
        return "npuhub"  # npuhub's own network (hub/network.py; set by jupyterhub_config)

    @default("use_internal_ip")
    def _use_internal_ip_default(self):
        return True  # the proxy reaches each server at its container address

    @default("remove")
    def _remove_default(self):
        return True

    @default("start_timeout")
    def _start_timeout_default(self):
        # covers the wait in the line for NPUs and in the admission line; readiness has
        # its own timeout
        return 900 + self.line_max_wait

    @default("http_timeout")
    def _http_timeout_default(self):
        return 120

    @default("name_template")
    def _name_template_default(self):
        return "{prefix}-{username}--{servername}"

    @default("volumes")
    def _volumes_default(self):
        return {"{prefix}-home-{username}": HOME}

    @default("notebook_dir")
    def _notebook_dir_default(self):
        return HOME

    @default("allowed_images")
    def _allowed_images_default(self):
        return {p["slug"]: p["image"] for p in self.profiles}

    @default("image")
    def _image_default(self):
        return self.profiles[0]["image"] if self.profiles else "npuhub/base:latest"

    @default("pull_policy")
    def _pull_policy_default(self):
        return "never"  # images are built on the host; no registry is reachable

    @default("options_form")
    def _options_form_default(self):
        return render_options_form

    @default("options_from_form")
    def _options_from_form_default(self):
        return options_from_form

    @default("apply_user_options")
    def _apply_user_options_default(self):
        return apply_user_options

    @default("extra_create_kwargs")
    def _create_kwargs_default(self):
        return {"user": CONTAINER_USER}

    @default("extra_host_config")
    def _extra_host_config_default(self):
        return npu_host_config

    @validate("extra_host_config")
    def _keep_npu_host_config(self, proposal):
        if proposal.value is not npu_host_config:
            raise TraitError(
                "NPUSpawner.extra_host_config is npuhub's own (NPU devices, hardening, "
                "datasets) and cannot be configured"
            )
        return proposal.value

    def network_for(self, profile: str) -> str:
        """The Docker network of a server of `profile`: the outbound one if the profile
        sets "internet", else the internal one (c.NPUSpawner.network_name)."""
        if self._internal_network is None:
            self._internal_network = self.network_name
        internet = any(p["slug"] == profile and p.get("internet") for p in self.profiles)
        return self.outbound_network_name if internet else self._internal_network

    @property
    def ledger(self):
        return platform_for(self.db_url).ledger

    @property
    def admission(self) -> Admission:
        cls = type(self)
        if cls._admission is None:
            cls._admission = Admission(self.spawn_concurrency)
        return cls._admission

    # ---------------------------------------------------------------- state

    def get_state(self):
        state = super().get_state()
        if self.allocation_id is not None:
            state.update(allocation_id=self.allocation_id, npus=self.npus, account=self.account)
        return state

    # clear_state is not overridden: DockerSpawner.stop calls it before our stop()
    # releases; the allocation fields are reset by _release, once the ledger has it back.

    def load_state(self, state):
        super().load_state(state)
        self.allocation_id = state.get("allocation_id")
        self.npus = state.get("npus", 0)
        self.account = state.get("account", "")

    # ---------------------------------------------------------------- lifecycle

    async def _in_executor(self, fn, *args, **kwargs):
        return await asyncio.wrap_future(self.executor.submit(partial(fn, *args, **kwargs)))

    async def _allocate(self, request: SpawnRequest) -> list[Device]:
        if self.allocation_id is not None:
            await self._release("replaced")
        groups = [g.name for g in self.user.groups]
        try:
            grant = await self._in_executor(
                self.ledger.allocate,
                user=self.user.name,
                groups=groups,
                account=request.account,
                kind="server",
                holder=self.name,
                npus=request.npus,
                profile=request.profile,
                device_type=request.device_type,
            )
            allocation_id, account, devices = grant.allocation_id, grant.account, grant.devices
        except CapacityError as e:
            if not (request.wait and e.transient):
                raise web.HTTPError(e.status, e.message(i18n.language_of(self))) from None
            # no NPUs now: wait in the line until the scheduler grants them
            self._line = LineWait(self, request, groups)
            try:
                allocation_id, account, devices = await self._line.wait()
            finally:
                self._line = None
        except LedgerError as e:
            # a refusal a person reads on the spawn page and in the REST answer
            raise web.HTTPError(e.status, e.message(i18n.language_of(self))) from None
        self.allocation_id = allocation_id
        self.account = account
        self.npus = len(devices)
        return [Device(node, index, path) for node, index, path in devices]

    async def _release(self, reason: str) -> None:
        if self.allocation_id is None:
            return
        allocation_id, self.allocation_id = self.allocation_id, None
        self.npus, self.account = 0, ""
        await self._in_executor(self.ledger.release, allocation_id, reason=reason)
        self.log.info(
            "Released NPU allocation %s of %s (%s)", allocation_id, self._log_name, reason
        )

    async def start(self):
        request = self.spawn_request
        if request is None:  # JupyterHub >= 5.3 runs apply_user_options before start
            raise RuntimeError(f"{self._log_name}: start without a resolved spawn request")
        self._allocated = False
        self._devices = await self._allocate(request)
        self._allocated = True
        key = f"{self.user.name}/{self.name}"
        try:
            await self.admission.acquire(key)
            try:
                if self.home_size:
                    await self._ensure_home()
                ip, port = await super().start()
                url = f"http://{ip}:{port}{self.server.base_url}api"
                await wait_for_http_server(url, timeout=self.ready_timeout)
            finally:
                self.admission.release()
        except BaseException:
            await self._release("failed")
            raise
        await self._record_provenance(request)
        return ip, port

    async def _ensure_home(self) -> None:
        """The home volume, created with c.NPUSpawner.home_size the first time."""
        for source, target in self.volumes.items():
            if (target == HOME or (isinstance(target, dict) and target.get("bind") == HOME)):
                name = self.format_volume_name(source, self)
                if not name.startswith("/"):  # a named volume, not a host folder
                    await home.ensure_home(self.docker, name, self.home_size,
                                           {"org.npuhub.home": self.user.name}, self.log)

    async def _record_provenance(self, request: SpawnRequest) -> None:
        """Keep on the usage record what this session runs on (GET …/me/session)."""
        if self.allocation_id is None:
            return
        try:
            info = await self.docker("inspect_container", self.container_id)
            record = await self._in_executor(
                session_provenance, platform_for(self.db_url), user=self.user.name,
                server=self.name, account=self.account, profile=request.profile,
                image_ref=self.image, image_id=info.get("Image"),
                devices=[(d.node, d.index, d.path) for d in self._devices],
                node_root=self.node_root, backend="docker", with_datasets=bool(self.mounts_root),
                allocation_id=self.allocation_id,
            )  # fmt: skip
        except Exception:  # a record missing is logged; it never fails a started server
            self.log.exception("No provenance recorded for %s", self._log_name)
            return
        self.log.debug("Provenance of %s: %s", self._log_name, record)

    def get_env(self):
        env = super().get_env()
        env.update(self._container()["environment"])
        return env

    def _container(self, datasets_folder: str | None = None) -> dict:
        lang = i18n.language_of(self)
        return server_container(
            devices=self._devices,
            account=self.account,
            mode=self.binding_mode,
            driver_paths=self.driver_paths,
            pids_limit=self.pids_limit,
            api_url=self.api_url,
            lang=lang if lang != i18n.DEFAULT else None,
            datasets_folder=datasets_folder,
            log_max_size=self.log_max_size,
            log_max_files=self.log_max_files,
        )

    async def host_config(self) -> dict:
        """The container's Docker host-config that npuhub adds (DockerSpawner merges it
        over its own: volume binds, memory and CPU limits)."""
        host_config = self._container(await self._datasets_folder())["host_config"]
        if "mounts" in host_config:  # replaces DockerSpawner's: keep the configured ones
            host_config["mounts"] = [*self.mount_binds, *host_config["mounts"]]
        return host_config

    async def _datasets_folder(self) -> str | None:
        """Prepare the user's datasets folder and restore their remembered mounts; the
        folder (None if it cannot be prepared: the server starts without)."""
        if not self.mounts_root:
            return None
        groups = [g.name for g in self.user.groups]
        try:
            done = await self._in_executor(
                restore_user, platform_for(self.db_url).datasets, self.mounts_root,
                self.user.name, groups, bool(self.user.admin),
            )
        except (DatasetError, MountError, OSError) as e:
            self.log.warning("No datasets folder for %s: %s", self._log_name, e)
            return None
        if done["mounted"]:
            self.log.info("Restored datasets of %s: %s", self._log_name, done["mounted"])
        return done["folder"]

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            await self._release("stopped")

    async def poll(self):
        status = await super().poll()
        if status is not None and self.allocation_id is not None:
            await self._release("crashed")
        return status

    async def progress(self):
        key = f"{self.user.name}/{self.name}"
        _ = i18n.for_spawner(self).gettext
        yield {"progress": 10, "message": _("Allocating NPUs…")}
        said = None
        while self._spawn_pending and not self._allocated:
            line = self._line
            if line is not None and line.message() != said:
                said = line.message()
                yield {"progress": 15, "message": said}
            await asyncio.sleep(0.1 if line is None else 0.5)
        last = None
        while self._spawn_pending:
            pos = self.admission.position(key)
            if pos is not None and pos != last:
                yield {
                    "progress": 20,
                    "message": _("Waiting to start: {n} ahead of you in line").format(n=pos - 1)
                    if pos > 1
                    else _("Waiting to start: you are next"),
                }
            elif pos is None and last != "started":
                yield {
                    "progress": 50,
                    "message": i18n.ngettext(
                        self, "Starting your container with {n} NPU…",
                        "Starting your container with {n} NPUs…", self.npus,
                    ).format(n=self.npus)
                    if self.npus
                    else _("Starting your container…"),
                }
                last = "started"
                continue
            last = pos if pos is not None else last
            await asyncio.sleep(1)


def options_from_form(formdata: dict) -> dict:
    def one(key, default=""):
        return (formdata.get(key) or [default])[0]

    options = {"profile": one("profile")}
    if one("npus"):
        options["npus"] = one("npus")
    if one("account"):
        options["account"] = one("account")
    return options


async def npu_host_config(spawner: NPUSpawner) -> dict:
    """DockerSpawner's callable `extra_host_config` of every NPUSpawner."""
    return await spawner.host_config()


async def apply_user_options(spawner: NPUSpawner, options: dict) -> None:
    """Resolve the options once into `spawner.spawn_request` (HTTP 400 naming the field);
    the profiles the user may use are read in an executor, off the event loop."""
    _ = i18n.for_spawner(spawner).gettext  # reads spawner.handler: before any await
    groups = sorted(g.name for g in spawner.user.groups)
    read = partial(  # the user's names are read here, on the loop; the database in a thread
        profile_rules, spawner.ledger, spawner.db_url, spawner.profiles, spawner.user.name, groups
    )
    loop = asyncio.get_running_loop()  # the default pool: DockerSpawner's has one thread
    rules = await loop.run_in_executor(None, read)
    try:
        request = resolve(options, rules, groups, _)
    except InvalidOptions as e:
        raise web.HTTPError(400, str(e)) from None
    spawner.spawn_request = request
    spawner.image = request.image
    spawner.network_name = spawner.network_for(request.profile)
    spawner.user_options = request.user_options()
