"""The platform service: a JupyterHub-managed tornado app at /services/npuhub/."""

from __future__ import annotations

import asyncio
import logging
import os

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.log import enable_pretty_logging

from npuhub.hub.enforce import Enforcer
from npuhub.hub.jobs.backend import start_jobs
from npuhub.hub.platform import get_ledger
from npuhub.hub.reconcile import start_watch
from npuhub.hub.settings import load_settings

from . import autograde, courses, datasets, devices, health, jobs, me, quotas, usage, users

RESOURCES = [health, me, devices, quotas, usage, datasets, jobs, courses, autograde, users]
log = logging.getLogger("npuhub.service")


def make_app(settings, hub_auth: HubAuth, prefix: str) -> web.Application:
    handlers = []
    for module in RESOURCES:
        for pattern, handler in module.default_handlers:
            handlers.append((prefix.rstrip("/") + pattern, handler))
    return web.Application(
        handlers,
        hub_auth=hub_auth,
        npuhub=settings,
        ledger=get_ledger(settings.db_url),
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
    await asyncio.Event().wait()
