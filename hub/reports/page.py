"""The usage page of the hub, /hub/usage, in the browser's language: NPU-hours per
account and per user over a day, week, month or chosen days, the cluster's utilization
over time as a plot drawn on the server, the top holders, and the same as CSV
(``?format=csv``). Administrators see every account; others their own accounts."""

from __future__ import annotations

import asyncio
import base64
import functools
import os

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from npuhub.hub.pages import LanguageMixin
from npuhub.hub.platform import platform_for
from npuhub.hub.settings import load_settings

from .access import NotAllowed, readable_accounts
from .i18n import gettext_for
from .plots import render, usage_figure
from .usage import choose_range, to_csv, usage_report


@functools.cache
def _platform():
    settings = load_settings(os.environ.get("NPUHUB_CONFIG") or None)
    return platform_for(settings.db_url)


def _session_factory():
    return _platform().ledger.session_factory


def page_data(rng, accounts, lang: str):
    """(report, base64 PNG of its plot): database and drawing, off the event loop."""
    with _session_factory()() as s:
        rep = usage_report(s, rng, accounts)
    fig, _ = usage_figure(rep, lang)
    return rep, base64.b64encode(render(fig, "png")).decode()


class UsagePageHandler(LanguageMixin, BaseHandler):
    @web.authenticated
    async def get(self):
        user = self.current_user
        arg = self.get_argument
        lang = self.npuhub_lang()
        period, since, until = arg("period", None), arg("since", None) or None, arg("until", None)
        try:
            rng = choose_range(period, since, until or None)
            accounts = readable_accounts(
                user.name, [g.name for g in user.groups], user.admin, arg("account", None) or None
            )
        except NotAllowed as e:
            raise web.HTTPError(403, str(e)) from None
        except ValueError as e:
            raise web.HTTPError(400, str(e)) from None
        loop = asyncio.get_running_loop()
        rep, png = await loop.run_in_executor(None, page_data, rng, accounts, lang)
        if arg("format", "html") == "csv":
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", 'attachment; filename="npuhub-usage.csv"')
            self.finish(to_csv(rep))
            return
        avg = rep.average_utilization()
        html = await self.render_template(
            "npuhub-usage.html",
            npuhub_reports_gettext=gettext_for(lang),
            report=rep,
            plot_png=png,
            average=None if avg is None else round(avg * 100, 1),
            period=period or ("" if since else "week"),
            since=since or "",
            until=until or "",
            account=arg("account", ""),
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)


def handlers() -> list[tuple[str, type]]:
    return [(r"/usage", UsagePageHandler)]
