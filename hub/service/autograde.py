"""Autograding in the background: POST .../autograde starts grading the collected
submissions of an assignment; GET .../autograde says how far it is (state
idle|running|done|failed, total, done, graded, the results so far). POST waits for the
end up to `?wait=SECONDS` (default WAIT_DEFAULT, at most WAIT_MAX): 200 with the results
when the run is over by then, else 202 with the progress, to be followed with GET — a
small class is graded in one request, a class of hundreds (many minutes) is not held on
one. A second POST while a run is going follows that run instead of starting another.

Each submission is graded in its own isolated container (npuhub.hub.courses.grader),
`GRADERS` at a time, off the event loop; each grade is stored as soon as it is known, so
a service restart loses only the progress record, never a grade.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from docker.errors import DockerException
from tornado import web

from npuhub.hub import clock
from npuhub.hub.courses import grader, service_ops
from npuhub.hub.schemas.courses import GradingProgress

from .courses import ASSIGNMENT, COURSE, CourseHandler
from .openapi import Op, Route

WAIT_DEFAULT, WAIT_MAX = 240.0, 600.0
GRADERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="npuhub-autograde")
log = logging.getLogger("npuhub.service.autograde")


class GradingRun:
    """The progress of grading one assignment, kept in the service process."""

    def __init__(self, cid: str, name: str, total: int) -> None:
        self.cid, self.name, self.total = cid, name, total
        self.state = "running"
        self.results: list[dict] = []
        self.error: str | None = None
        self.started, self.finished = clock.utcnow(), None
        self.task: asyncio.Future | None = None

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "total": self.total,
            "done": len(self.results),
            "graded": sum(1 for r in self.results if r.get("score") is not None),
            "results": list(self.results),
            "error": self.error,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
        }

    async def grade(self, grade_one, subs: list[dict]) -> None:
        loop = asyncio.get_running_loop()
        try:
            for done in asyncio.as_completed(
                [loop.run_in_executor(GRADERS, grade_one, s) for s in subs]
            ):
                self.results.append(await done)
            self.state = "done"
            log.info("Autograded %s/%s: %d submissions", self.cid, self.name, self.total)
        except Exception as e:  # a bug, not a bad submission (those are graded 0)
            log.exception("Autograding %s/%s failed", self.cid, self.name)
            self.state, self.error = "failed", f"grading stopped: {e}"[:500]
        finally:
            self.finished = clock.utcnow()


IDLE = {"state": "idle", "total": 0, "done": 0, "graded": 0, "results": [], "error": None,
        "started": None, "finished": None}


class AutogradeHandler(CourseHandler):
    runs: dict[tuple[str, str], GradingRun] = {}
    cleanup: asyncio.Future | None = None

    async def remove_stale(self) -> None:
        """Once per service process, before its first grading: remove the grading
        containers a previous service process left behind (not the CLI's)."""
        cls = type(self)
        if cls.cleanup is None:
            cls.cleanup = asyncio.get_running_loop().run_in_executor(
                GRADERS, partial(grader.remove_stale, labels={"org.npuhub.grader": "service"}))
        try:
            removed = await asyncio.shield(cls.cleanup)
        except DockerException as e:  # Docker unreachable: each submission will say so
            log.warning("Could not remove stale grading containers: %s", e)
            return
        if removed:
            log.info("Removed %d stale grading containers", removed)

    async def remove_stale_then(self, grading) -> None:
        await self.remove_stale()
        await grading

    async def get(self, cid, name):
        await self.instructor(cid, name)
        run = self.runs.get((cid, name))
        self.write_json(run.as_dict() if run else IDLE)

    async def post(self, cid, name):
        await self.instructor(cid, name)
        try:
            wait = float(self.get_query_argument("wait", str(WAIT_DEFAULT)))
        except ValueError:
            raise web.HTTPError(400, "wait: a number of seconds") from None
        if not 0 <= wait <= WAIT_MAX:
            raise web.HTTPError(400, f"wait: between 0 and {WAIT_MAX:g} seconds")
        key = (cid, name)
        run = self.runs.get(key)
        if run is None or run.state != "running":
            course = await self.call(self.store.get, cid)
            src = await self.call(self.store.source, cid, name)
            if src["released_at"] is None:
                raise web.HTTPError(409, f"Assignment {name} is not released yet")
            subs = await self.call(self.store.collected, cid, name)
            # checked again after the awaits, and registered before the next await: two
            # POSTs at once start one run
            if (run := self.runs.get(key)) is None or run.state != "running":
                run = self.runs[key] = GradingRun(cid, name, len(subs))
                grade = partial(service_ops.grade_one, self.store, course, src, by="service")
                run.task = asyncio.ensure_future(self.remove_stale_then(run.grade(grade, subs)))
                log.info("Autograding %s/%s: %d submissions", cid, name, len(subs))
        if wait and run.task is not None:
            await asyncio.wait([asyncio.shield(run.task)], timeout=wait)
        self.write_json(run.as_dict(), status=202 if run.state == "running" else 200)


_A = rf"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}/autograde"
routes = [
    Route(_A, AutogradeHandler, {
        "POST": Op("Grade the collected submissions (instructors). Waits up to ?wait= "
                   "seconds (default 240): 200 with the results, or 202 with the progress "
                   "(as GET) if still running; a run already going is followed",
                   {200: GradingProgress, 202: GradingProgress}, errors=(400, 404, 409),
                   query={"wait": {"type": "number", "minimum": 0, "maximum": WAIT_MAX}}),
        "GET": Op("Progress of the latest grading (instructors): state "
                  "(idle|running|done|failed), total, done, graded, results",
                  {200: GradingProgress}, errors=(400, 404)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
