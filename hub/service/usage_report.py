"""GET /api/v1/usage/report: NPU-hours per account and per user and the cluster's
utilization per step, over the current day|week|month or the days since..until;
as JSON, CSV (``?format=csv``) or a plot (``?format=png|svg``). Administrators: every
account (or ``?account=``); others: their own accounts."""

from __future__ import annotations

from tornado import web

from npuhub.hub.reports.access import NotAllowed, readable_accounts
from npuhub.hub.reports.plots import render, usage_figure
from npuhub.hub.reports.usage import choose_range, to_csv, usage_report

from .base import APIHandler

FORMATS = {
    "json": None,
    "csv": "text/csv; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}


def build(session_factory, rng, accounts):
    with session_factory() as s:
        return usage_report(s, rng, accounts)


class UsageReportHandler(APIHandler):
    async def get(self):
        arg = self.get_query_argument
        fmt = arg("format", "json")
        if fmt not in FORMATS:
            raise web.HTTPError(400, f"format must be one of {', '.join(FORMATS)}")
        lang = arg("lang", "en")
        if lang not in ("en", "zh_CN"):
            raise web.HTTPError(400, "lang must be en or zh_CN")
        try:
            rng = choose_range(arg("period", None), arg("since", None), arg("until", None))
            accounts = readable_accounts(
                self.user_name, self.groups, self.is_admin, arg("account", None)
            )
        except NotAllowed as e:
            raise web.HTTPError(403, str(e)) from None
        except ValueError as e:
            raise web.HTTPError(400, str(e)) from None
        rep = await self.blocking(build, self.ledger.session_factory, rng, accounts)
        if fmt == "json":
            self.write_json(rep.as_dict())
            return
        if fmt == "csv":
            body = to_csv(rep).encode()
            self.set_header("Content-Disposition", 'attachment; filename="npuhub-usage.csv"')
        else:
            fig, _ = usage_figure(rep, lang)
            body = await self.blocking(render, fig, fmt)
        self.set_header("Content-Type", FORMATS[fmt])
        self.finish(body)


default_handlers = [(r"/api/v1/usage/report", UsageReportHandler)]
