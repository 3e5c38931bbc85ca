"""The spawn page's options form: profile cards the user's groups allow, each with the
NPU choices, the NPUs free now and the user's remaining quota."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def form_context(spawner) -> dict:
    """Everything the form shows, from the ledger (sync: run in an executor)."""
    ledger = spawner.ledger
    devices = ledger.devices()
    free_by_type: dict[str | None, int] = {None: 0}
    for d in devices:
        if d["state"] == "available" and d["holder"] is None:
            free_by_type[None] += 1
            free_by_type[d["type"]] = free_by_type.get(d["type"], 0) + 1
    me = ledger.summary(spawner.user.name, [g.name for g in spawner.user.groups])
    cards = []
    for p in spawner.visible_profiles():
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
        "budget": me.get("budget"),
        "simulated": any(d["type"] == "simulated" for d in devices),
    }


async def render_options_form(spawner) -> str:
    loop = asyncio.get_running_loop()
    ctx = await loop.run_in_executor(None, form_context, spawner)
    return _env.get_template("options_form.html").render(**ctx)
