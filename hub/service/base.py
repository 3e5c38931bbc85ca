"""The base of every resource handler: token authentication against the hub, JSON in and
out, errors as JSON with a readable message (never a traceback, never a token).

Refusals (hub/refusals.py) raised anywhere below a handler become their HTTP status and
`{"error": code, "message": …, "params": {…}}` here, the message in the language of the
request's `Accept-Language`; resources do not map them themselves."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from http.client import responses

from jupyterhub.services.auth import HubAuth
from tornado import web

from npuhub.hub import i18n
from npuhub.hub.refusals import Refusal
from npuhub.hub.schemas import SchemaError, validate

ACCESS_SCOPE = "access:services!service=npuhub"


class APIHandler(web.RequestHandler):
    """JSON REST handler authenticated by JupyterHub tokens (`Authorization: token …`)."""

    model: dict | None = None

    @property
    def hub_auth(self) -> HubAuth:
        return self.settings["hub_auth"]

    @property
    def service(self):
        """The running npuhub.hub.service.app.PlatformService (enforcer, jobs, grading,
        the hub client)."""
        return self.settings["service"]

    @property
    def ledger(self):
        return self.settings["ledger"]

    @property
    def platform(self):
        return self.settings["platform"]

    @property
    def npuhub(self):
        return self.settings["npuhub"]

    def check_xsrf_cookie(self):
        # token-authenticated REST: no cookies, so no XSRF
        return

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def _token(self) -> str | None:
        auth = self.request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        return None

    async def prepare(self):
        token = self._token()
        if token is None:
            raise Refusal("no_token")
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model:
            raise Refusal("bad_token")
        if not self.hub_auth.check_scopes({ACCESS_SCOPE}, model):
            raise Refusal("token_scope")
        self.model = model

    @property
    def user_name(self) -> str:
        return self.model["name"]

    @property
    def groups(self) -> list[str]:
        return list(self.model.get("groups") or [])

    @property
    def is_admin(self) -> bool:
        m = self.model or {}
        return bool(m.get("admin")) or "admin:users" in (m.get("scopes") or [])

    def require_admin(self):
        if not self.is_admin:
            raise Refusal("admin_only")

    def json_body(self) -> dict:
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The request body must be a JSON object")
        return body

    def body(self, model):
        """The JSON body as `model` (npuhub.hub.schemas); a body that does not fit is a
        400 whose message names the field."""
        try:
            return validate(model, self.json_body())
        except SchemaError as e:
            raise web.HTTPError(400, "%s", e.message(self.lang)) from None

    def write_json(self, obj, status: int = 200):
        self.set_status(status)
        self.finish(json.dumps(obj, default=str))

    async def blocking(self, fn, *args, **kwargs):
        """Database work runs off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    @property
    def lang(self) -> str:
        return i18n.negotiate(self.request.headers.get("Accept-Language"))

    def _handle_request_exception(self, e):
        # a refusal is an answer, not a failure of the service: no traceback in the log
        if isinstance(e, Refusal) and not self._finished:
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = {"status": status_code, "error": f"http_{status_code}", "params": {}}
        body["message"] = responses.get(status_code, "Error")
        if isinstance(exc, Refusal):
            body.update(exc.as_json(self.lang))
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            body["message"] = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False))


class PublicHandler(APIHandler):
    """No authentication (health, OpenAPI)."""

    async def prepare(self):
        return
