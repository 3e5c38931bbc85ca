"""GET /api/v1/devices (admin): every device with its node, state and holder."""

from npuhub.hub.schemas.account import Device

from .base import APIHandler
from .openapi import Op, Route


class DevicesHandler(APIHandler):
    async def get(self):
        self.require_admin()
        self.write_json(await self.blocking(self.ledger.inventory.devices))


routes = [
    Route(r"/api/v1/devices", DevicesHandler, {
        "GET": Op("Devices: node, index, type, state, holder, since", {200: [Device]},
                  admin=True),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
