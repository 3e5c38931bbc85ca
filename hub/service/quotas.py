"""GET /api/v1/quotas, GET|PUT /api/v1/quotas/{group} (admin)."""

from tornado import web

from npuhub.hub.schemas.quotas import QuotaLimits, QuotaPolicy

from .base import APIHandler
from .openapi import Op, Route

GROUP = r"(?P<group>[A-Za-z0-9*][A-Za-z0-9._-]{0,127})"


class QuotaListHandler(APIHandler):
    async def get(self):
        self.require_admin()
        self.write_json(await self.blocking(self.ledger.policies.all))


class QuotaHandler(APIHandler):
    async def get(self, group):
        self.require_admin()
        policy = await self.blocking(self.ledger.policies.get, group)
        if policy is None:
            raise web.HTTPError(404, f"No quota policy for group {group!r}")
        self.write_json(policy)

    async def put(self, group):
        self.require_admin()
        limits = self.body(QuotaLimits).limits()
        await self.blocking(self.ledger.policies.set, group, **limits)
        self.write_json(await self.blocking(self.ledger.policies.get, group))


routes = [
    Route(r"/api/v1/quotas", QuotaListHandler, {
        "GET": Op("All quota policies", {200: [QuotaPolicy]}, admin=True),
    }),
    Route(rf"/api/v1/quotas/{GROUP}", QuotaHandler, {
        "GET": Op("The quota policy of a group ('*' is the default)", {200: QuotaPolicy},
                  errors=(404,), admin=True),
        "PUT": Op("Set some limits of a group's quota policy (null: inherit)",
                  {200: QuotaPolicy}, body=QuotaLimits, admin=True),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
