"""GET /metrics: the platform's Prometheus metrics (``npuhub_…``), beside JupyterHub's
/hub/metrics and protected the same way: a token with the ``read:metrics`` scope (an
admin's, or a Prometheus service's), unless the operator opens them with
``c.NPUHub.authenticate_prometheus = False``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from tornado import web

from npuhub.hub.reports.metrics import exposition, registry

from .base import APIHandler

METRICS_SCOPE = "read:metrics"


class MetricsHandler(APIHandler):
    async def prepare(self):
        if not self.npuhub.authenticate_prometheus:
            return
        token = self._token()
        if token is None:
            raise web.HTTPError(401, "Missing token: send 'Authorization: token <your token>'")
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model:
            raise web.HTTPError(403, "Invalid or expired token")
        if not self.hub_auth.check_scopes({METRICS_SCOPE}, model):
            raise web.HTTPError(
                403, f"Reading metrics needs a token with the {METRICS_SCOPE} scope"
            )
        self.model = model

    async def get(self):
        reg = self.settings.get("metrics_registry")
        if reg is None:
            reg = self.settings["metrics_registry"] = registry(self.ledger.session_factory)
        body = await self.blocking(exposition, reg)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)


default_handlers = [(r"/metrics", MetricsHandler)]
