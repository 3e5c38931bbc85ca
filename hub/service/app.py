"""The platform service: a JupyterHub-managed tornado app at /services/npuhub/."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.log import enable_pretty_logging

from npuhub.hub.enforce import Enforcer
from npuhub.hub.jobs.backend import start_jobs
from npuhub.hub.ledger.reconcile import start_watch
from npuhub.hub.platform import platform_for
from npuhub.hub.settings import load_settings

from . import (
    autograde,
    courses,
    datasets,
    devices,
    health,
    jobs,
    me,
    metrics,
    quotas,
    usage,
    usage_report,
)

RESOURCES = [
    health,
    me,
    devices,
    quotas,
    usage,
    usage_report,
    datasets,
    jobs,
    courses,
    autograde,
    metrics,
]
log = logging.getLogger("npuhub.service")


def make_app(settings, hub_auth: HubAuth, prefix: str) -> web.Application:
    handlers = []
    for module in RESOURCES:
        for pattern, handler in module.default_handlers:
            handlers.append((prefix.rstrip("/") + pattern, handler))
    platform = platform_for(settings.db_url)
    return web.Application(
        handlers,
        hub_auth=hub_auth,
        npuhub=settings,
        platform=platform,
        ledger=platform.ledger,
        base_url=prefix,
        me_extras=[datasets.me_extra],
    )


async def main() -> None:
    enable_pretty_logging()
    settings = load_settings(os.environ.get("NPUHUB_CONFIG") or None)
    logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/npuhub/")
    hub_auth = HubAuth(cache_max_age=60)
    app = make_app(settings, hub_auth, prefix)
    port = int(os.environ["NPUHUB_SERVICE_PORT"])
    app.listen(port, address="127.0.0.1")
    hub_api, token = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
    enforcer = Enforcer(
        app.settings["ledger"],
        hub_api,
        token,
        settings.budget_grace_seconds,
        jobs=lambda: app.settings.get("jobs"),
    )
    app.settings["enforcer"] = enforcer
    start_watch(app.settings["ledger"], enforcer, hub_api, token, settings.watch_interval)
    datasets.start_restore(app)
    start_jobs(app, settings)
    log.info("npuhub service listening on 127.0.0.1:%s%s", port, prefix)
    stop_on_signals()
    await asyncio.Event().wait()


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
