"""GET /api/v1/usage?account=&period= (admins: any account; members: their own)."""

from tornado import web

from npuhub.hub.ledger.quota import PERIODS
from npuhub.hub.schemas.account import Usage

from .base import APIHandler
from .openapi import Op, Route


class UsageHandler(APIHandler):
    async def get(self):
        account = self.get_query_argument("account", None)
        period = self.get_query_argument("period", "week")
        if period not in PERIODS:
            raise web.HTTPError(400, f"period must be one of {', '.join(PERIODS)}")
        if not self.is_admin:
            own = set(self.groups) | {self.user_name}
            if account is None:
                account = self.user_name if not self.groups else None
                if account is None:
                    raise web.HTTPError(400, f"Choose an account: {', '.join(sorted(own))}")
            if account not in own:
                raise web.HTTPError(403, f"You are not a member of account {account!r}")
        report = self.ledger.usage.report
        self.write_json(await self.blocking(report, account=account, period=period))


routes = [
    Route(r"/api/v1/usage", UsageHandler, {
        "GET": Op("NPU-hours by account and period", {200: Usage}, errors=(400,),
                  query={"account": {"type": "string"},
                         "period": {"type": "string", "enum": list(PERIODS)}}),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
