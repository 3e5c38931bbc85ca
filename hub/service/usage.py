"""GET /api/v1/usage?account=&period= (admins: any account; members: their own)."""

from tornado import web

from npuhub.hub.ledger.quota import PERIODS

from .base import APIHandler
from .openapi import op


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


default_handlers = [(r"/api/v1/usage", UsageHandler)]
openapi_paths = {
    "/usage": {"get": op("NPU-hours by account and period", params=["account", "period"])}
}
