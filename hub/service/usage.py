"""GET /api/v1/usage?account=&period= (admins: any account; members: their own).

Members see their own NPU-hours and their account's total, never a classmate's or
colleague's: `by_user` holds only the caller, unless they manage the account (an
administrator, one of the account's `c.NPUHub.account_managers`, or an instructor of the
course whose group it is)."""

import re

from tornado import web

from npuhub.hub.ledger.quota import PERIODS
from npuhub.hub.schemas.account import Usage

from .base import APIHandler
from .openapi import Op, Route

COURSE_GROUP = re.compile(r"^course-(?P<cid>.+)-(students|instructors)$")


def manages(account: str | None, user: str, groups: list[str], managers: dict) -> bool:
    """Whether `user` may see each member's usage of `account` (besides admins)."""
    if account is None:
        return False
    if user in (managers.get(account) or []):
        return True
    m = COURSE_GROUP.match(account)
    return bool(m) and f"course-{m.group('cid')}-instructors" in groups


class UsageHandler(APIHandler):
    async def get(self):
        account = self.get_query_argument("account", None)
        period = self.get_query_argument("period", "week")
        if period not in PERIODS:
            raise web.HTTPError(400, f"period must be one of {', '.join(PERIODS)}")
        manager = manages(account, self.user_name, self.groups, self.npuhub.account_managers)
        if not self.is_admin and not manager:
            own = set(self.groups) | {self.user_name}
            if account is None:
                account = self.user_name if not self.groups else None
                if account is None:
                    raise web.HTTPError(400, f"Choose an account: {', '.join(sorted(own))}")
            if account not in own:
                raise web.HTTPError(403, f"You are not a member of account {account!r}")
        used = await self.blocking(self.ledger.usage.report, account=account, period=period)
        if not self.is_admin and not manager:
            used["by_user"] = {k: v for k, v in used["by_user"].items() if k == self.user_name}
        self.write_json(used)


routes = [
    Route(r"/api/v1/usage", UsageHandler, {
        "GET": Op("NPU-hours by account and period (members: their own and the account's "
                  "total)", {200: Usage}, errors=(400,),
                  query={"account": {"type": "string"},
                         "period": {"type": "string", "enum": list(PERIODS)}}),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
