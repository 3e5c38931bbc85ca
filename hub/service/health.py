"""Health and the OpenAPI document (no token needed)."""

from .base import PublicHandler
from .openapi import spec


class HealthHandler(PublicHandler):
    def get(self):
        self.write_json({"status": "ok"})


class OpenAPIHandler(PublicHandler):
    def get(self):
        self.write_json(spec(self.settings["base_url"]))


default_handlers = [
    (r"/health", HealthHandler),
    (r"/api/v1/health", HealthHandler),
    (r"/api/v1/openapi.json", OpenAPIHandler),
]
