"""The spawn page's options form: profile cards the user's groups allow, each with the
NPU choices, the NPUs free now and the user's remaining quota."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from npuhub.hub import i18n, profiles
from npuhub.hub.ledger.summary import summary
from npuhub.hub.platform import platform_for

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def form_context(spawner, groups: list[str]) -> dict:
    """Everything the form shows, from the ledger (sync: run in an executor; `groups`,
    the user's, read on the event loop from the hub's own database)."""
    ledger = spawner.ledger
    devices = ledger.inventory.devices()
    free_by_type: dict[str | None, int] = {None: 0}
    for d in devices:
        if d["state"] == "available" and d["holder"] is None:
            free_by_type[None] += 1
            free_by_type[d["type"]] = free_by_type.get(d["type"], 0) + 1
    me = summary(ledger, spawner.user.name, groups)
    first = (me.get("quotas") or [{}])[0]
    # a quota policy may restrict the profiles (a course's students get the course's)
    restrictions = {q["account"]: q["limits"].get("profiles") for q in me.get("quotas") or []}
    courses = platform_for(spawner.db_url).courses.profiles() if spawner.db_url else []
    rules = profiles.rules(spawner.profiles, courses, restrictions)
    cards = []
    for p in profiles.usable(rules, groups):
        free = (
            free_by_type.get(p.get("device_type"), 0)
            if p.get("device_type")
            else free_by_type[None]
        )
        cards.append({**p, "free": free})
    return {
        "profiles": cards,
        "accounts": me.get("accounts", []),
        "remaining": me.get("remaining_npus"),
        "budget": first if first.get("npu_hours_budget") is not None else None,
        "simulated": any(d["type"] == "simulated" for d in devices),
    }


PERIODS = {"day": "today", "week": "this week", "month": "this month"}


def budget_text(_, quota: dict | None) -> str:
    """"13.5 / 40 NPU-hours this week", in the user's language."""
    if not quota:
        return ""
    period = PERIODS.get(quota.get("period"), "this period")
    return _("{used} / {budget} NPU-hours {period}").format(
        used=f"{quota['npu_hours_used']:.1f}", budget=f"{quota['npu_hours_budget']:g}",
        period=_(period),
    )


async def render_options_form(spawner) -> str:
    t = i18n.for_spawner(spawner)  # before the executor: spawner.handler is read here
    lang = i18n.language_of(spawner)
    loop = asyncio.get_running_loop()
    groups = [g.name for g in spawner.user.groups]
    ctx = await loop.run_in_executor(None, form_context, spawner, groups)
    ctx["budget"] = budget_text(t.gettext, ctx["budget"])
    return _env.get_template("options_form.html").render(
        _=t.gettext, lang=lang.replace("_", "-"), **ctx
    )
