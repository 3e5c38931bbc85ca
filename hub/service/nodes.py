"""POST /api/v1/nodes/{node}/drain and /undrain (admin): every chip of a node drained or
back in service in the ledger and, in cluster mode, the node in Slurm (hub/node_drain.py,
as `npuhub devices drain|undrain NODE`)."""

from npuhub.hub.node_drain import set_node
from npuhub.hub.schemas.nodes import DrainRequest, NodeDrained
from npuhub.hub.slurm_nodes import NODE

from .base import APIHandler
from .openapi import Op, Route

NODE_NAME = NODE.pattern.removeprefix("^").removesuffix("$")


class DrainHandler(APIHandler):
    async def post(self, node):
        self.require_admin()
        body = self.body(DrainRequest)
        self.write_json(await self.blocking(
            set_node, self.ledger, self.npuhub, node, True, body.reason))


class UndrainHandler(APIHandler):
    async def post(self, node):
        self.require_admin()
        self.write_json(await self.blocking(set_node, self.ledger, self.npuhub, node, False))


routes = [
    Route(rf"/api/v1/nodes/(?P<node>{NODE_NAME})/drain", DrainHandler, {
        "POST": Op("Drain a node: its chips are never handed out again (holders keep "
                   "theirs); cluster mode: drained in Slurm too", {200: NodeDrained},
                   body=DrainRequest, errors=(400, 404, 502), admin=True),
    }),
    Route(rf"/api/v1/nodes/(?P<node>{NODE_NAME})/undrain", UndrainHandler, {
        "POST": Op("Undrain a node: its chips back in service (cluster mode: resumed in "
                   "Slurm too)", {200: NodeDrained}, errors=(404, 502), admin=True),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
