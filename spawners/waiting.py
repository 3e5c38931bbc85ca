"""A server's wait in the line for NPUs (:mod:`npuhub.hub.line`), from the spawner's side.

When the ledger refuses a start for lack of NPUs that may come free later, and the
request may wait (``user_options`` ``wait``, default true), :class:`LineWait` joins the
line in the platform database and asks every second how its request stands (in an
executor: never a query on the hub's event loop). The service's scheduler grants it its
devices when its turn comes; the start then goes on as if the ledger had granted them at
once. Stop (the spawn being cancelled) leaves the line, giving back devices granted in
the meantime; the longest wait (``c.NPUHub.line_max_wait``) ends in a refusal that says
so. Its :meth:`~LineWait.message` is the spawn page's progress line, in the user's
language.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from functools import partial

from tornado import web

from npuhub.hub import clock, i18n
from npuhub.hub.platform import platform_for
from npuhub.hub.refusals import Refusal

POLL_S = 1.0
TOUCH_EVERY = 10  # polls between the "still waiting" marks the scheduler looks for


async def _blocking(fn, *args, **kwargs):
    """Database work off the event loop, in the loop's default pool (DockerSpawner's own
    has one thread, kept for Docker: a waiting line's polls must not queue behind it)."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


class LineWait:
    def __init__(self, spawner, request, groups: list[str]):
        self.spawner, self.request, self.groups = spawner, request, groups
        self.lang = i18n.language_of(spawner)  # remembered: the handler goes away
        self.row: dict | None = None

    @property
    def line(self):
        return platform_for(self.spawner.db_url).line

    def _join(self) -> dict:
        sp, r = self.spawner, self.request
        charged, limits, _ = sp.ledger.policies.limits_for(sp.user.name, self.groups, r.account)
        hours = limits.max_session_hours
        limit = hours * 3600.0 if hours else (sp.line_session_limit or None)
        return self.line.join(
            user=sp.user.name, server=sp.name, groups=self.groups, account=charged,
            npus=r.npus, profile=r.profile, device_type=r.device_type, limit_s=limit,
        )

    async def wait(self) -> tuple[int, str, list]:
        """(allocation id, account, devices) once granted; HTTPError if refused."""
        sp = self.spawner
        self.row = await _blocking(self._join)
        request_id = self.row["id"]
        sp.log.info("%s waits in the line for %s NPU(s) (request %s)",
                    sp._log_name, self.request.npus, request_id)
        deadline = time.monotonic() + sp.line_max_wait
        polls, settled = 0, False
        try:
            while True:
                polls += 1
                if polls % TOUCH_EVERY == 0:
                    await _blocking(self.line.touch, request_id)
                row = await _blocking(self.line.get, request_id)
                self.row = row
                state = row["state"] if row else "left"
                if state == "granted":
                    if await _blocking(self.line.take, request_id):
                        settled = True
                        devices = [tuple(d) for d in row["devices"]]
                        return row["allocation_id"], row["account"], devices
                    continue
                if state == "refused":
                    settled = True
                    refusal = Refusal(row["refusal"]["code"], row["refusal"].get("status"),
                                      **row["refusal"].get("params", {}))
                    raise web.HTTPError(refusal.status, refusal.message(self.lang))
                if state != "waiting":  # dropped by the scheduler (nobody asked for it)
                    settled = True
                    raise self._refused("line_dropped")
                if time.monotonic() >= deadline and await _blocking(
                    self.line.expire, request_id
                ):
                    settled = True
                    raise self._refused("line_max_wait", max_wait=sp.line_max_wait)
                await asyncio.sleep(POLL_S)
        finally:
            if not settled:  # cancelled (Stop) or failed: leave the line
                await asyncio.shield(self._leave(request_id))

    async def _leave(self, request_id: int) -> None:
        sp = self.spawner
        granted = await _blocking(self.line.leave, request_id)
        if granted is not None:  # granted just as it left: give the devices back
            await _blocking(sp.ledger.release, granted, reason="left the line")
        sp.log.info("%s left the line (request %s)", sp._log_name, request_id)

    def _refused(self, code: str, **params) -> web.HTTPError:
        refusal = Refusal(code, npus=self.request.npus, **params)
        return web.HTTPError(refusal.status, refusal.message(self.lang))

    def message(self) -> str:
        """The progress line: "Waiting for 2 NPUs: position 3 in the line, estimated
        start 14:05 UTC", in the user's language."""
        t = i18n.translation(self.lang)
        n, row = self.request.npus, self.row
        if row is None or row.get("position") is None:
            return t.ngettext(
                "Waiting for {n} NPU in the line…", "Waiting for {n} NPUs in the line…", n
            ).format(n=n)
        start = row.get("estimated_start")
        if start is None:
            return t.ngettext(
                "Waiting for {n} NPU: position {position} in the line, start time not known yet",
                "Waiting for {n} NPUs: position {position} in the line, start time not known yet",
                n,
            ).format(n=n, position=row["position"])
        return t.ngettext(
            "Waiting for {n} NPU: position {position} in the line, estimated start {time}",
            "Waiting for {n} NPUs: position {position} in the line, estimated start {time}",
            n,
        ).format(n=n, position=row["position"], time=clock_time(start, clock.utcnow()))


def clock_time(when: datetime, now: datetime) -> str:
    """`when` as a person reads it on the page: "14:05 UTC", with the date if it is not
    today; never before `now`."""
    when = max(when, now)
    if when.date() == now.date():
        return f"{when:%H:%M} UTC"
    return f"{when:%Y-%m-%d %H:%M} UTC"
