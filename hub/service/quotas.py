"""GET /api/v1/quotas, GET|PUT /api/v1/quotas/{group} (admin)."""

from tornado import web

from npuhub.hub.ledger.quota import LIMIT_FIELDS, PERIODS

from .base import APIHandler
from .openapi import op

GROUP = r"(?P<group>[A-Za-z0-9*][A-Za-z0-9._-]{0,127})"


def validate_limits(body: dict) -> dict:
    """Only known fields, each of the right kind; a message that names the field."""
    unknown = sorted(set(body) - set(LIMIT_FIELDS))
    if unknown:
        raise web.HTTPError(
            400, f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(LIMIT_FIELDS)}"
        )
    out = {}
    for key, value in body.items():
        if key == "period":
            if value not in PERIODS:
                raise web.HTTPError(400, f"period must be one of {', '.join(PERIODS)}")
        elif key == "profiles":
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise web.HTTPError(400, "profiles must be a list of profile slugs, or null")
        elif value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise web.HTTPError(400, f"{key} must be a number >= 0, or null")
            if key in ("max_npus", "max_npus_per_server", "group_max_npus") and value != int(value):
                raise web.HTTPError(400, f"{key} must be a whole number")
        out[key] = value
    return out


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
        limits = validate_limits(self.json_body())
        await self.blocking(self.ledger.policies.set, group, **limits)
        self.write_json(await self.blocking(self.ledger.policies.get, group))


default_handlers = [
    (r"/api/v1/quotas", QuotaListHandler),
    (rf"/api/v1/quotas/{GROUP}", QuotaHandler),
]
openapi_paths = {
    "/quotas": {"get": op("All quota policies", admin=True)},
    "/quotas/{group}": {
        "get": op("The quota policy of a group ('*' is the default)", admin=True, params=["group"]),
        "put": op(
            "Set a group's quota policy",
            admin=True,
            params=["group"],
            body="max_npus_per_server, max_npus, group_max_npus, npu_hours, "
            "npu_hours_per_member, period, max_session_hours, profiles",
        ),
    },
}
