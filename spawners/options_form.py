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
    allowed = allowed_npus(me.get("remaining_npus"), first)
    return {
        **choose(cards, allowed),
        "blocked": blocked(allowed, first, cards),
        "resets": (first.get("resets") or "")[:16].replace("T", " "),
        "accounts": me.get("accounts", []),
        "remaining": me.get("remaining_npus"),
        "budget": first if first.get("npu_hours_budget") is not None else None,
        "simulated": any(d["type"] == "simulated" for d in devices),
    }


def allowed_npus(remaining: int | None, quota: dict) -> int | None:
    """The most NPUs a start may ask for now: the quota's remaining NPUs, none once the
    NPU-hour budget is spent (None: no limit)."""
    budget = quota.get("npu_hours_budget")
    if budget is not None and float(quota.get("npu_hours_used") or 0) >= budget:
        return 0
    return remaining


def blocked(allowed: int | None, quota: dict, cards: list[dict]) -> str:
    """Why no NPUs can start ("budget": the NPU-hours are spent, "quota": all NPUs the
    quota allows are held) when a profile offers NPUs, else ""."""
    if allowed != 0 or not any(max(c["npus"], default=0) > 0 for c in cards):
        return ""
    return "budget" if allowed_npus(None, quota) == 0 else "quota"


def choose(cards: list[dict], allowed: int | None) -> dict:
    """Each card's NPU choices within what the user may hold, and what is preselected:
    a course's card (students start what their course grants) with its NPUs, otherwise
    the first card with its fewest NPUs."""
    out = []
    for c in cards:
        npus = [n for n in c["npus"] if allowed is None or n <= allowed] or [0]
        course = str(c.get("slug", "")).startswith("course-")
        out.append({**c, "npus": npus, "default": max(npus) if course else npus[0]})
    chosen = next((c["slug"] for c in out if str(c["slug"]).startswith("course-")),
                  out[0]["slug"] if out else None)
    return {"profiles": out, "chosen": chosen}


def keep_choices(ctx: dict, before: dict) -> None:
    """After a refused start the form shows what the user chose (profile, NPUs) again,
    where it is still offered."""
    card = next((c for c in ctx["profiles"] if c["slug"] == before.get("profile")), None)
    if card is None:
        return
    ctx["chosen"] = card["slug"]
    npus = str(before.get("npus", ""))
    if npus.isdigit() and int(npus) in card["npus"]:
        card["default"] = int(npus)


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
    keep_choices(ctx, getattr(spawner, "user_options", None) or {})
    ctx["budget"] = budget_text(t.gettext, ctx["budget"])
    return _env.get_template("options_form.html").render(
        _=t.gettext, lang=lang.replace("_", "-"), **ctx
    )
