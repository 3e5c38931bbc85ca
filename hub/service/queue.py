"""GET /api/v1/queue (admin): the line for NPUs, first to last: servers waiting in the
line and queued local batch jobs, each with its position and estimated start."""

from npuhub.hub.line.keeper import current
from npuhub.hub.schemas.line import QueueEntry

from .base import APIHandler
from .openapi import Op, Route


class QueueHandler(APIHandler):
    async def get(self):
        self.require_admin()
        jobs = self.service.jobs
        if jobs is None:  # the scheduler starts with the service
            self.write_json([])
            return
        keeper = jobs.keeper
        self.write_json(await self.blocking(
            current, self.ledger, keeper.line, jobs.queue, keeper.half_life_s,
            keeper.session_limit_s,
        ))


routes = [
    Route(r"/api/v1/queue", QueueHandler, {
        "GET": Op("The line for NPUs: position, kind, user, account, NPUs, waiting since, "
                  "estimated start", {200: [QueueEntry]}, admin=True),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
