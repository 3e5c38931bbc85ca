"""Health and the OpenAPI document (no token needed)."""

from tornado import web

from npuhub.hub.schemas.common import Health

from .base import PublicHandler
from .openapi import Op, Route


class HealthHandler(PublicHandler):
    def get(self):
        self.write_json({"status": "ok"})


class OpenAPIHandler(PublicHandler):
    def get(self):
        self.write_json(self.settings["openapi"])


class NotFoundHandler(PublicHandler):
    """Any path that is no route: a JSON 404 like every other refusal."""

    async def prepare(self):
        raise web.HTTPError(404, "No such resource; see the OpenAPI document")


_HEALTH = {"GET": Op("Whether the service answers", {200: Health})}
routes = [
    Route(r"/health", HealthHandler, _HEALTH, public=True),
    Route(r"/api/v1/health", HealthHandler, _HEALTH, public=True),
    Route(r"/api/v1/openapi.json", OpenAPIHandler,
          {"GET": Op("This document", {200: {"type": "object"}})}, public=True),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
