"""GET /api/v1/devices (admin): every device with its node, state and holder."""

from .base import APIHandler
from .openapi import op


class DevicesHandler(APIHandler):
    async def get(self):
        self.require_admin()
        self.write_json(await self.blocking(self.ledger.inventory.devices))


default_handlers = [(r"/api/v1/devices", DevicesHandler)]
openapi_paths = {
    "/devices": {"get": op("Devices: node, index, type, state, holder, since", admin=True)}
}
