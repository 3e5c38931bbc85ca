"""NPUSpawner: DockerSpawner whose containers are bound to the NPUs the ledger grants.

It overrides a few hooks and keeps DockerSpawner's lifecycle: `start` wraps the inherited
one with admission, allocation and a readiness wait; `create_object` adds the device
binding and hardening; `stop`/`poll` release the devices.
"""

from __future__ import annotations

import asyncio
import copy
import re
from functools import partial

from docker.types import Mount
from dockerspawner import DockerSpawner
from jupyterhub.utils import random_port, wait_for_http_server
from tornado import web
from traitlets import Dict, Integer, List, Unicode, default

from npuhub.hub import i18n
from npuhub.hub.courses.store import course_profiles
from npuhub.hub.datasets.catalog import DatasetError
from npuhub.hub.datasets.mounter import MountError
from npuhub.hub.datasets.store import restore_user
from npuhub.hub.ledger import LedgerError
from npuhub.hub.platform import get_ledger

from .admission import Admission
from .binding import DEFAULT_DRIVER_PATHS, MODES, Device, binding, hardening
from .options_form import render_options_form

ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    api_url = Unicode(help="NPUHUB_API_URL given to the container.").tag(config=True)
    mounts_root = Unicode(
        "",
        help="""Host folder of the per-user dataset folders: <mounts_root>/<user> is
        bind-mounted at /home/jovyan/datasets (rslave, so datasets mounted later appear
        live) and the user's remembered datasets are mounted at start. Empty: none.""",
    ).tag(config=True)

    allocation_id = Integer(None, allow_none=True)
    npus = Integer(0)
    account = Unicode("")

    _admission: Admission | None = None
    _allocated = False  # this start's NPUs are granted (progress waits for it)

    # ---------------------------------------------------------------- configuration

    @default("network_name")
    def _network_default(self):
        return "host"

    @default("use_internal_ip")
    def _use_internal_ip_default(self):
        return True  # host networking: no port bindings; each server on its own port

    @default("ip")
    def _ip_default(self):
        return "127.0.0.1"

    @default("remove")
    def _remove_default(self):
        return True

    @default("start_timeout")
    def _start_timeout_default(self):
        # covers the wait in the admission line; readiness has its own timeout
        return 900

    @default("http_timeout")
    def _http_timeout_default(self):
        return 120

    @default("name_template")
    def _name_template_default(self):
        return "{prefix}-{username}--{servername}"

    @default("volumes")
    def _volumes_default(self):
        return {"{prefix}-home-{username}": "/home/jovyan"}

    @default("notebook_dir")
    def _notebook_dir_default(self):
        return "/home/jovyan"

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
        return {"user": "1000:100"}

    @property
    def ledger(self):
        return get_ledger(self.db_url)

    @property
    def admission(self) -> Admission:
        cls = type(self)
        if cls._admission is None:
            cls._admission = Admission(self.spawn_concurrency)
        return cls._admission

    def all_profiles(self) -> list[dict]:
        """The configured profiles, then those of the courses (one small query)."""
        slugs = {p["slug"] for p in self.profiles}
        extra = course_profiles(self.db_url) if self.db_url else []
        return [*self.profiles, *(p for p in extra if p["slug"] not in slugs)]

    def profile(self, slug: str) -> dict | None:
        return next((p for p in self.all_profiles() if p["slug"] == slug), None)

    def visible_profiles(self) -> list[dict]:
        groups = {g.name for g in self.user.groups}
        return [
            p for p in self.all_profiles() if not p.get("groups") or groups & set(p["groups"])
        ]

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

    async def _allocate(self) -> list[Device]:
        if self.allocation_id is not None:
            await self._release("replaced")
        profile = self.profile(self.user_options.get("profile", "")) or {}
        try:
            grant = await self._in_executor(
                self.ledger.allocate,
                user=self.user.name,
                groups=[g.name for g in self.user.groups],
                account=self.user_options.get("account") or None,
                kind="server",
                holder=self.name,
                npus=int(self.user_options.get("npus", 0)),
                profile=profile.get("slug"),
                device_type=profile.get("device_type"),
            )
        except LedgerError as e:
            # a refusal a person reads on the spawn page and in the REST answer
            raise web.HTTPError(e.status, e.message(i18n.language_of(self))) from None
        self.allocation_id = grant.allocation_id
        self.account = grant.account
        self.npus = len(grant.devices)
        return [Device(node, index, path) for node, index, path in grant.devices]

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
        self._allocated = False
        self._devices = await self._allocate()
        self._allocated = True
        self.port = random_port()
        key = f"{self.user.name}/{self.name}"
        try:
            await self.admission.acquire(key)
            try:
                ip, port = await super().start()
                url = f"http://{ip}:{port}{self.server.base_url}api"
                await wait_for_http_server(url, timeout=self.ready_timeout)
            finally:
                self.admission.release()
        except BaseException:
            await self._release("failed")
            raise
        return ip, port

    async def get_ip_and_port(self):
        return self.ip, self.port

    def get_env(self):
        env = super().get_env()
        env.update(self._binding()["env"])
        env["NPUHUB_API_URL"] = self.api_url
        lang = i18n.language_of(self)
        if lang != i18n.DEFAULT:  # JupyterLab's first language (extensions/serverext.py)
            env["NPUHUB_LANG"] = lang
        return env

    def _binding(self) -> dict:
        return binding(
            getattr(self, "_devices", []),
            account=self.account,
            mode=self.binding_mode,
            driver_paths=self.driver_paths,
        )

    async def create_object(self):
        base_host_config, base_volumes = self.extra_host_config, self.volumes
        b = self._binding()
        host_config = copy.deepcopy(self._eval_if_callable(base_host_config) or {})
        host_config.update(hardening(pids_limit=self.pids_limit))
        host_config.update(b["host_config"])
        datasets = await self._datasets_mount()
        if datasets:
            host_config["mounts"] = [*self.mount_binds, *datasets]
        self.extra_host_config = host_config
        self.volumes = {**base_volumes, **b["binds"]}
        try:
            return await super().create_object()
        finally:
            self.extra_host_config, self.volumes = base_host_config, base_volumes

    async def _datasets_mount(self) -> list[Mount]:
        """Prepare the user's datasets folder and restore their remembered mounts; the
        Docker mount of that folder (none if it cannot be prepared: the server starts)."""
        if not self.mounts_root:
            return []
        groups = [g.name for g in self.user.groups]
        try:
            done = await self._in_executor(
                restore_user, self.db_url, self.mounts_root, self.user.name, groups,
                bool(self.user.admin),
            )
        except (DatasetError, MountError, OSError) as e:
            self.log.warning("No datasets folder for %s: %s", self._log_name, e)
            return []
        if done["mounted"]:
            self.log.info("Restored datasets of %s: %s", self._log_name, done["mounted"])
        target = "/home/jovyan/datasets"
        return [Mount(target, done["folder"], type="bind", propagation="rslave")]

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
        while self._spawn_pending and not self._allocated:
            await asyncio.sleep(0.1)
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


def apply_user_options(spawner: NPUSpawner, options: dict) -> None:
    """Validate `profile`, `npus`, `account` (and a legacy `image`): refuse with an
    HTTP 400 that names the field."""
    _ = i18n.for_spawner(spawner).gettext
    known = {"profile", "npus", "account", "image"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise web.HTTPError(
            400,
            _("Unknown option(s) {names}; use profile, npus, account").format(
                names=", ".join(unknown)
            ),
        )
    visible = spawner.visible_profiles()
    slugs = [p["slug"] for p in visible]
    if "image" in options:
        allowed = {p["image"] for p in visible}
        if options["image"] not in allowed:
            raise web.HTTPError(
                400,
                _("image {image} is not allowed; choose a profile: {profiles}").format(
                    image=repr(str(options["image"])[:100]), profiles=", ".join(slugs)
                ),
            )
        options.setdefault(
            "profile", next(p["slug"] for p in visible if p["image"] == options["image"])
        )
    slug = options.get("profile") or (slugs[0] if slugs else "")
    profile = spawner.profile(slug) if slug in slugs else None
    if profile is None:
        raise web.HTTPError(
            400,
            _("profile {profile} is not one of yours: {profiles}").format(
                profile=repr(str(slug)[:64]), profiles=", ".join(slugs) or _("none")
            ),
        )
    try:
        npus = int(options.get("npus", 0))
    except (TypeError, ValueError):
        raise web.HTTPError(400, _("npus must be a whole number")) from None
    if npus not in profile["npus"]:
        choices = ", ".join(str(n) for n in profile["npus"])
        raise web.HTTPError(
            400,
            _("npus={npus} is not offered by profile {profile}: {choices}").format(
                npus=npus, profile=repr(slug), choices=choices
            ),
        )
    account = options.get("account")
    if account is not None:
        groups = sorted(g.name for g in spawner.user.groups)
        if not isinstance(account, str) or not ACCOUNT.match(account) or account not in groups:
            raise web.HTTPError(
                400,
                _("account must be one of your groups: {groups}").format(
                    groups=", ".join(groups) or _("you have none")
                ),
            )
    spawner.image = profile["image"]
    options.pop("image", None)
    options.update(profile=slug, npus=npus)
    spawner.user_options = options
