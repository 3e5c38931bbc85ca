"""Release times: the platform service releases an assignment by itself once its
`release` time has come, every `course_release_interval` seconds.

The release is the instructor's own (service_ops.release_assignment, from the stored
sources), recorded as released by "schedule". It happens once: the store writes it only
while the assignment is unreleased (an instructor who released earlier, or a service
restarted meanwhile, makes it a no-op). A release that fails (no or invalid sources) is
logged and recorded on the assignment for its instructors to see, and not tried again
until its sources or its release time change.
"""

from __future__ import annotations

import asyncio
import logging

from tornado.ioloop import PeriodicCallback

from npuhub.hub import clock
from npuhub.hub.refusals import Refusal

from . import service_ops

log = logging.getLogger("npuhub.courses.schedule")
BY = "schedule"


def release_due(store) -> list[dict]:
    """Release every assignment whose time has come (blocking): what happened to each,
    {course, assignment, released_at | error}."""
    out = []
    for cid, name in store.due_releases(clock.utcnow()):
        try:
            r = service_ops.release_assignment(store, cid, name, BY, only_once=True)
        except Exception as e:  # any failure is recorded once, not retried in a loop
            code, params = ((e.code, e.params) if isinstance(e, Refusal)
                            else ("refused", {"detail": str(e)[:500]}))
            log.warning("Scheduled release of %s/%s failed: %s", cid, name, e)
            store.set_release_error(cid, name, code, params)
            out.append({"course": cid, "assignment": name, "error": code})
            continue
        if r is not None:
            log.info("Released %s/%s at its release time (%s files)", cid, name,
                     len(r["files"]))
            out.append({"course": cid, "assignment": name, "released_at": r["released_at"]})
    return out


def start_release_schedule(store, interval_s: float) -> PeriodicCallback:
    """The service's periodic release of assignments whose `release` time has come."""
    async def tick():
        try:
            await asyncio.get_running_loop().run_in_executor(None, release_due, store)
        except Exception:
            log.exception("Releasing assignments at their release time failed; will retry")

    pc = PeriodicCallback(tick, interval_s * 1000)
    pc.start()
    asyncio.ensure_future(tick())  # at start too: what came due while the service was down
    return pc
