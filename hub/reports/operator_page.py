"""The operators' page of the hub, /hub/operators (administrators only), in the
browser's language: devices by node with their state, holder, since and idle time; the
line of waiting requests; the quotas with users' own overrides; links to the usage
reports and to JupyterHub's own admin page (which keeps working beside it)."""

from __future__ import annotations

import asyncio

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from npuhub.hub import clock
from npuhub.hub.idle.models import idle_devices
from npuhub.hub.ledger.quota import LIMIT_FIELDS, USER_LIMIT_FIELDS
from npuhub.hub.pages import LanguageMixin

from . import overview
from .i18n import gettext_for
from .page import _platform

# the column headings of the quotas (msgids of npuhub_reports)
FIELD_LABELS = {
    "max_npus_per_server": "NPUs per server",
    "max_npus": "NPUs per user",
    "group_max_npus": "NPUs of the group",
    "npu_hours": "NPU-hours budget",
    "npu_hours_per_member": "NPU-hours per member",
    "period": "Period",
    "max_session_hours": "Session hours",
    "profiles": "Profiles",
}


def page_data() -> dict:
    """Everything the page shows, read in one go (off the event loop)."""
    platform = _platform()
    now = clock.utcnow()
    with platform.ledger.session_factory() as s:
        devices = overview.devices(s, now, idle_devices(s, now))
        line = overview.waiting_requests(s, now)
    return {
        "now": now,
        "nodes": overview.by_node(devices),
        "counts": overview.count_states(d["state"] for d in devices),
        "total": len(devices),
        "line": line,
        "policies": platform.ledger.policies.all(),
        "overrides": platform.ledger.policies.users(),
    }


class OperatorsPageHandler(LanguageMixin, BaseHandler):
    @web.authenticated
    async def get(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "The operators' page is for administrators")
        data = await asyncio.get_running_loop().run_in_executor(None, page_data)
        html = await self.render_template(
            "npuhub-operators.html",
            npuhub_reports_gettext=gettext_for(self.npuhub_lang()),
            duration=overview.duration,
            holder_label=overview.holder_label,
            limit_fields=LIMIT_FIELDS,
            user_fields=USER_LIMIT_FIELDS,
            field_labels=FIELD_LABELS,
            **data,
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)


def handlers() -> list[tuple[str, type]]:
    return [(r"/operators", OperatorsPageHandler)]
