"""GET /api/v1/me: who the caller is, their accounts, quotas, usage and allocations, and
their place in the line for NPUs."""

from npuhub.hub.idle.models import notices
from npuhub.hub.ledger.summary import summary
from npuhub.hub.refusals import Refusal
from npuhub.hub.schemas.account import Me

from .base import APIHandler
from .datasets import me_datasets
from .openapi import Op, Route


class MeHandler(APIHandler):
    async def get(self):
        if self.model.get("kind") == "service":
            self.write_json({"name": self.user_name, "kind": "service", "admin": self.is_admin})
            return
        info = await self.blocking(summary, self.ledger, self.user_name, self.groups)
        info.update(name=self.user_name, kind="user", admin=self.is_admin, groups=self.groups)
        info["warnings"] = self.service.enforcer.warnings.get(self.user_name, [])
        # idle NPUs: the standing warnings and, until a new start, the last stop for them
        # (the Lab status bar says them in its language)
        info["idle"] = await self.blocking(notices, self.platform.session_factory,
                                           self.user_name)
        info["line"] = self._line_place()
        info.update(await me_datasets(self))
        self.write_json(info)

    def _line_place(self) -> dict | None:
        """The caller's foremost place in the line at the scheduler's last tick."""
        jobs = self.service.jobs
        place = jobs.keeper.place_of(self.user_name) if jobs is not None else None
        if place is None:
            return None
        keys = ("position", "kind", "id", "npus", "submitted", "estimated_start")
        return {k: place[k] for k in keys}


class MySessionHandler(APIHandler):
    async def get(self):
        server = self.get_argument("server", "")[:255]
        record = await self.blocking(
            self.ledger.usage.provenance, self.user_name, "server", server
        )
        if record is None:
            raise Refusal("no_session", server=server or "default")
        self.write_json(record)


routes = [
    Route(r"/api/v1/me", MeHandler, {
        "GET": Op("The caller: groups, accounts, quotas, usage, allocations", {200: Me}),
    }),
    Route(r"/api/v1/me/session", MySessionHandler, {
        "GET": Op("What the caller's running server (?server=NAME, default '') runs on: "
                  "image and digest, node, devices, driver and CANN, datasets",
                  {200: {"type": "object"}}, query={"server": {"type": "string"}},
                  errors=(404,)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
