"""The platform service: a JupyterHub-managed tornado app at /services/npuhub/.

`PlatformService` is a traitlets Application (as jupyterhub-idle-culler's): it reads its
configuration, owns what lives as long as the process — the one JupyterHub REST client,
the quota enforcer and the servers' watch, the batch job scheduler, the grading runs —
and serves the routes of npuhub.hub.service.routes. The handlers parse, authorize and
serialize; the use cases are in the feature packages (npuhub.hub.jobs, .datasets,
.courses). JupyterHub starts it as `python -m npuhub.hub.service` with its service
environment (JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN, JUPYTERHUB_SERVICE_PREFIX)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.log import enable_pretty_logging
from traitlets import Integer, Unicode, default
from traitlets.config import Application

from npuhub.hub.courses.grading_runs import GradingRuns
from npuhub.hub.courses.schedule import start_release_schedule
from npuhub.hub.datasets.node_step import node_mounts_for
from npuhub.hub.datasets.restore import drop_lost_mounts, restore_running
from npuhub.hub.enforce import Enforcer
from npuhub.hub.hubapi import AsyncHubAPI
from npuhub.hub.idle.watch import IdleWatch
from npuhub.hub.jobs.backend import Jobs, start_jobs
from npuhub.hub.jobs.config import load_jobs_config
from npuhub.hub.jobs.recheck import make_recheck
from npuhub.hub.ledger.reconcile import start_watch
from npuhub.hub.platform import platform_for
from npuhub.hub.settings import load_settings
from npuhub.hub.slurm_inventory import start_sync

from .health import NotFoundHandler
from .routes import openapi, service_handlers

log = logging.getLogger("npuhub.service")


class PlatformService(Application):
    name = "npuhub-service"
    description = "The npuhub platform service (REST API under the hub's /services/npuhub/)"

    npuhub_config = Unicode(
        help="""The npuhub configuration file (c.NPUHub, c.JobsConfig); default: the
        environment's NPUHUB_CONFIG, else npuhub's defaults.""",
    ).tag(config=True)
    ip = Unicode("127.0.0.1", help="""The address the service listens on.""").tag(config=True)
    container_ip = Unicode(help="""Where user containers reach the service: the gateway of
        npuhub's network (env NPUHUB_GATEWAY); it listens there too.""").tag(config=True)
    port = Integer(help="""The port the service listens on (env NPUHUB_SERVICE_PORT)."""
                   ).tag(config=True)
    service_prefix = Unicode(help="""The service's URL prefix on the hub's proxy
        (env JUPYTERHUB_SERVICE_PREFIX).""").tag(config=True)
    hub_api_url = Unicode(help="""JupyterHub's REST API (env JUPYTERHUB_API_URL)."""
                          ).tag(config=True)
    api_token = Unicode(help="""The service's JupyterHub token (env JUPYTERHUB_API_TOKEN);
        never logged.""").tag(config=True)
    aliases = {
        "config": "PlatformService.npuhub_config",
        "ip": "PlatformService.ip",
        "port": "PlatformService.port",
    }

    @default("npuhub_config")
    def _npuhub_config(self):
        return os.environ.get("NPUHUB_CONFIG", "")

    @default("port")
    def _port(self):
        return int(os.environ.get("NPUHUB_SERVICE_PORT", "0"))

    @default("container_ip")
    def _container_ip(self):
        return os.environ.get("NPUHUB_GATEWAY", "")

    @default("service_prefix")
    def _prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/npuhub/")

    @default("hub_api_url")
    def _hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL", "")

    @default("api_token")
    def _api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def initialize(self, argv=None) -> None:
        super().initialize(argv)
        enable_pretty_logging()
        self.npuhub = load_settings(self.npuhub_config or None)
        logging.getLogger().setLevel(logging.DEBUG if self.npuhub.debug else logging.INFO)
        self.hub = AsyncHubAPI(self.hub_api_url.rstrip("/"), self.api_token)
        self.platform = platform_for(self.npuhub.db_url)
        self.ledger = self.platform.ledger
        self.jobs: Jobs | None = None
        self.grading = GradingRuns(deployment=load_jobs_config(
            self.npuhub_config or None, self.npuhub).prefix)
        self.enforcer = Enforcer(self.ledger, self.hub, self.npuhub.budget_grace_seconds,
                                 jobs=lambda: self.jobs)
        self.idle = IdleWatch(self.platform, self.hub, self.npuhub)
        self.node_mounts = node_mounts_for(self.npuhub)  # cluster mode: mounts on the nodes
        self.web_app = self.make_app()

    def make_app(self) -> web.Application:
        prefix = self.service_prefix
        return web.Application(
            service_handlers(prefix),
            default_handler_class=NotFoundHandler,
            service=self,
            hub_auth=HubAuth(api_url=self.hub_api_url, api_token=self.api_token,
                             cache_max_age=60),
            npuhub=self.npuhub,
            platform=self.platform,
            ledger=self.ledger,
            base_url=prefix,
            openapi=openapi(prefix),
        )

    async def restore_mounts(self) -> None:
        if self.node_mounts is not None:
            return  # the nodes' mounts follow the database at the first watch
        try:
            users = await self.hub.active_users()
            await restore_running(self.platform.datasets, str(self.npuhub.path("mounts")), users)
        except Exception:
            log.exception("Restoring dataset mounts at start failed")

    async def watch_mounts(self, every: float) -> None:
        """A user who leaves a group loses the live mounts the group gave them."""
        root = str(self.npuhub.path("mounts"))
        while True:
            await asyncio.sleep(every)
            try:
                users = await self.hub.active_users()
                await drop_lost_mounts(self.platform.datasets, root, users)
                if self.node_mounts is not None:
                    await self.nodes_follow(users)
            except Exception:
                log.exception("Re-checking dataset mounts failed")

    async def nodes_follow(self, users: list[dict]) -> None:
        """Cluster mode: the nodes of running servers mount what the database says."""
        loop = asyncio.get_running_loop()
        running = [u["name"] for u in users
                   if any(s.get("ready") for s in (u.get("servers") or {}).values())]
        mounts = await loop.run_in_executor(None, self.platform.datasets.all_mounts)
        await loop.run_in_executor(None, self.node_mounts.reconcile, mounts, running)

    async def serve(self) -> None:
        self.web_app.listen(self.port, address=self.ip)
        if self.container_ip and self.container_ip != self.ip:
            self.web_app.listen(self.port, address=self.container_ip)
        start_watch(self.ledger, self.enforcer, self.hub, self.npuhub.watch_interval)
        self.idle.start(self.npuhub.watch_interval)
        if self.npuhub.engine == "slurm":
            start_sync(self.ledger.inventory, self.npuhub, self.npuhub.slurm_sync_interval)
        start_release_schedule(self.platform.courses, self.npuhub.course_release_interval)
        asyncio.ensure_future(self.restore_mounts())
        self._mounts_task = asyncio.ensure_future(self.watch_mounts(self.npuhub.watch_interval))
        self.jobs = start_jobs(self.platform, self.npuhub_config or None, self.npuhub,
                               recheck=make_recheck(self.hub, self.platform.datasets))
        log.info("npuhub service listening on %s:%s%s", self.ip, self.port,
                 self.service_prefix)
        stop_on_signals()
        exit_with_parent()
        await asyncio.Event().wait()

    def start(self) -> None:
        asyncio.run(self.serve())


def stop_on_signals() -> None:
    """Exit at once when JupyterHub stops the service (SIGINT, then SIGTERM).

    Worker threads (Docker log followers, grading runs) would otherwise keep the process
    alive until JupyterHub gives up on it, and a hub restarted meanwhile finds its ports
    taken. Nothing is lost: jobs and grading runs are recovered from the database at the
    next start."""
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        log.info("npuhub service stopping (signal %s)", signum)
        logging.shutdown()
        os._exit(0)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)


def exit_with_parent() -> None:
    """Get SIGTERM when JupyterHub dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG): an
    orphaned service would keep its port and the next hub's service could not start."""
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError) as e:
        log.warning("the service will not stop by itself if the hub dies: %s", e)
        return
    if os.getppid() != parent:  # the hub died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


main = PlatformService.launch_instance
