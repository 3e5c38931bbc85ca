"""The hub's own pages in the browser's language.

JupyterHub's templates see no request, so the handlers that render npuhub's page
overrides (hub/templates/hub/) put the language negotiated from `Accept-Language`
into the template namespace as `npuhub_lang`; page.html's navigation bar and the pages
read it through `npuhub_i18n.gettext_for(npuhub_lang)`. The spawn pages take it from the
spawner instead (hub/i18n.py). The handlers are registered by the authenticator
(hub/auth.py), whose handlers JupyterHub routes before its own.
"""

from __future__ import annotations

from jupyterhub.handlers.pages import HomeHandler as _HomeHandler

from npuhub.hub import i18n


class LanguageMixin:
    """Adds `npuhub_lang` to every template the handler renders."""

    def npuhub_lang(self) -> str:
        return i18n.negotiate(self.request.headers.get("Accept-Language"))

    def render_template(self, name, *args, **ns):
        ns.setdefault("npuhub_lang", self.npuhub_lang())
        return super().render_template(name, *args, **ns)


class HomeHandler(LanguageMixin, _HomeHandler):
    """JupyterHub's home page (start/stop my server) in the browser's language."""


def handlers() -> list[tuple[str, type]]:
    return [(r"/home", HomeHandler)]
