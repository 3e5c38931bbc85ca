"""The hub's own pages in the browser's language.

JupyterHub's templates see no request, so the handlers that render npuhub's page
overrides (hub/templates/hub/) put the language negotiated from `Accept-Language`
into the template namespace as `npuhub_lang`; page.html's navigation bar and the pages
read it through `npuhub_i18n.gettext_for(npuhub_lang)`. The spawn pages take it from the
spawner instead (hub/i18n.py). The handlers are registered by the authenticator
(hub/auth.py), whose handlers JupyterHub routes before its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os

from jupyterhub.handlers.pages import HomeHandler as _HomeHandler

from npuhub.hub import i18n
from npuhub.hub.idle.models import notices
from npuhub.hub.platform import platform_for
from npuhub.hub.settings import load_settings

log = logging.getLogger("npuhub.pages")


@functools.cache
def _session_factory():
    settings = load_settings(os.environ.get("NPUHUB_CONFIG") or None)
    return platform_for(settings.db_url).session_factory


class LanguageMixin:
    """Adds `npuhub_lang` to every template the handler renders."""

    def npuhub_lang(self) -> str:
        return i18n.negotiate(self.request.headers.get("Accept-Language"))

    def render_template(self, name, *args, **ns):
        ns.setdefault("npuhub_lang", self.npuhub_lang())
        return super().render_template(name, *args, **ns)


class HomeHandler(LanguageMixin, _HomeHandler):
    """JupyterHub's home page (start/stop my server) in the browser's language, with the
    idle-NPU warning of a running server, or why it was stopped (hub/idle/)."""

    async def get(self):
        user = self.current_user
        self._npuhub_idle = []
        if user is not None:
            try:
                self._npuhub_idle = await asyncio.get_running_loop().run_in_executor(
                    None, notices, _session_factory(), user.name)
            except Exception:
                log.exception("Reading the idle notices of %s failed", user.name)
        return await super().get()

    def render_template(self, name, *args, **ns):
        ns.setdefault("npuhub_idle", getattr(self, "_npuhub_idle", []))
        return super().render_template(name, *args, **ns)


def handlers() -> list[tuple[str, type]]:
    return [(r"/home", HomeHandler)]
