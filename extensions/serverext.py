"""The `npuhub` jupyter_server extension: `/npuhub/api/(.*)` forwards the browser's calls
to the npuhub service with the server's own token (env JUPYTERHUB_API_TOKEN), which the
browser never sees. Only the resources of the service's user API are forwarded (an
allow-list of method and path), bodies are size-capped, the service's status and body are
passed through. At start it also gives JupyterLab its first language (`seed_lab_language`).
"""

from __future__ import annotations

import json
import os
import re

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import httpclient, web
from traitlets import Float, Int, Unicode, default

SEG = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
ASSIGNMENT = rf"courses/{SEG}/assignments/{SEG}"
ROUTES: list[tuple[re.Pattern, frozenset[str]]] = [
    (re.compile(p), frozenset(m.split()))
    for p, m in (
        (r"me", "GET"),
        (r"me/session", "GET"),
        (r"datasets", "GET"),
        (rf"datasets/{SEG}/mount", "POST DELETE"),
        (r"jobs", "GET POST"),
        (rf"jobs/{SEG}", "GET DELETE"),
        (rf"jobs/{SEG}/logs", "GET"),
        (r"courses", "GET POST"),
        (rf"{ASSIGNMENT}/(fetch|feedback)", "GET"),
        (rf"{ASSIGNMENT}/(submit|release|collect|return)", "POST"),
        (rf"{ASSIGNMENT}/autograde", "GET POST"),
        (rf"{ASSIGNMENT}/source", "PUT"),
        (rf"{ASSIGNMENT}/submissions/{SEG}/grades", "GET PUT"),
        (rf"{ASSIGNMENT}/extensions", "GET"),
        (rf"{ASSIGNMENT}/extensions/{SEG}", "PUT"),
        (rf"courses/{SEG}/grades", "GET"),
    )
]


def allowed(method: str, path: str) -> bool:
    """Whether `method path` (path relative to the API root, no query) may be forwarded."""
    if ".." in path:
        return False
    return any(rx.fullmatch(path) and method in methods for rx, methods in ROUTES)


class ForwardHandler(ExtensionHandlerMixin, APIHandler):
    """Forwards an allowed request to the service, authenticated as this server."""

    auth_resource = "npuhub"

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"status": status, "message": message}))

    async def _forward(self, path: str) -> None:
        app: NPUHubApp = self.extensionapp  # type: ignore[assignment]
        method = self.request.method or "GET"
        if not allowed(method, path):
            return self._refuse(404, f"npuhub: {method} {path} is not a forwarded resource")
        if len(self.request.body or b"") > app.max_body_size:
            return self._refuse(413, f"request body over {app.max_body_size} bytes")
        if not app.api_url or not app.api_token:
            return self._refuse(503, "not running inside an npuhub server (no NPUHUB_API_URL)")
        url = f"{app.api_url.rstrip('/')}/{path}"
        if self.request.query:
            url += "?" + self.request.query
        headers = {"Authorization": f"token {app.api_token}", "Accept": "application/json"}
        if self.request.headers.get("Accept-Language"):  # refusals in the person's language
            headers["Accept-Language"] = self.request.headers["Accept-Language"][:200]
        body = self.request.body if method in ("POST", "PUT") else None
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = httpclient.HTTPRequest(
            url, method=method, headers=headers, body=body,
            request_timeout=app.request_timeout, follow_redirects=False,
            allow_nonstandard_methods=True,
        )  # fmt: skip
        try:
            resp = await httpclient.AsyncHTTPClient().fetch(req, raise_error=False)
        except Exception as e:  # connection refused, DNS, timeout before a response
            self.log.warning("npuhub forward %s %s failed: %s", method, path, type(e).__name__)
            return self._refuse(502, "cannot reach the npuhub service")
        if resp.code == 599:  # tornado's "no response" (timeout, connection reset)
            return self._refuse(504, "the npuhub service did not answer in time")
        self.set_status(resp.code)
        if "Content-Disposition" in resp.headers:
            self.set_header("Content-Disposition", resp.headers["Content-Disposition"])
        ctype = resp.headers.get("Content-Type", "application/json")
        self.finish(resp.body or b"", set_content_type=ctype)

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def put(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        await self._forward(path)


LANG = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
LAB_LANGUAGE_SETTINGS = ("@jupyterlab", "translation-extension", "plugin.jupyterlab-settings")


def lab_settings_dir() -> str:
    """JupyterLab's user settings folder (as jupyterlab.commands.get_user_settings_dir)."""
    from jupyter_core.paths import jupyter_config_dir

    return os.environ.get("JUPYTERLAB_SETTINGS_DIR") or os.path.join(
        jupyter_config_dir(), "lab", "user-settings"
    )


def seed_lab_language(lang: str | None, settings_dir: str) -> str | None:
    """JupyterLab's language at a user's first start: the language of the browser that
    started the server (NPUHUB_LANG, set by NPUSpawner), unless the user has a language
    setting already, which is never changed. Returns the file written, or None."""
    if not lang or lang == "en" or not LANG.match(lang):
        return None
    path = os.path.join(settings_dir, *LAB_LANGUAGE_SETTINGS)
    if os.path.lexists(path):
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:  # never over a file made meanwhile
        json.dump({"locale": lang}, f)
    return path


class NPUHubApp(ExtensionApp):
    """npuhub inside the user's server: the service forwarder."""

    name = "npuhub"
    load_other_extensions = True

    api_url = Unicode(help="""The service API root (default: env NPUHUB_API_URL).""").tag(
        config=True
    )
    max_body_size = Int(25 << 20, help="""Largest request body forwarded, in bytes.""").tag(
        config=True
    )
    request_timeout = Float(
        600.0, help="""Seconds to wait for the service (autograding can take minutes)."""
    ).tag(config=True)

    @default("api_url")
    def _api_url(self) -> str:
        return os.environ.get("NPUHUB_API_URL", "")

    @property
    def api_token(self) -> str:
        """The server's own token: read from the environment, never configured or logged."""
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def initialize_settings(self) -> None:
        try:
            written = seed_lab_language(os.environ.get("NPUHUB_LANG"), lab_settings_dir())
        except OSError as e:  # a read-only or odd home must not stop the server
            self.log.warning("npuhub: JupyterLab's language not set: %s", e)
        else:
            if written:
                self.log.info("npuhub: JupyterLab's language set to %s", os.environ["NPUHUB_LANG"])

    def initialize_handlers(self) -> None:
        self.handlers.append((r"/npuhub/api/(.*)", ForwardHandler))
