"""Autograding in the background: POST .../autograde starts grading the collected
submissions of an assignment and answers 202 at once with the progress; GET
.../autograde says how far it is (state idle|running|done|failed, total, done, the
results so far). A class of hundreds takes many minutes, longer than a request should
wait; a second POST while a run is going returns that run instead of starting another.

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

from .courses import ASSIGNMENT, COURSE, CourseHandler
from .openapi import op

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

    async def get(self, cid, name):
        await self.instructor(cid, name)
        run = self.runs.get((cid, name))
        self.write_json(run.as_dict() if run else IDLE)

    async def post(self, cid, name):
        await self.instructor(cid, name)
        key = (cid, name)
        run = self.runs.get(key)
        if run is None or run.state != "running":
            course = await self.call(self.store.get, cid)
            src = await self.call(self.store.source, cid, name)
            if src["released_at"] is None:
                raise web.HTTPError(409, f"Assignment {name} is not released yet")
            subs = await self.call(self.store.collected, cid, name)
            if (run := self.runs.get(key)) is None or run.state != "running":
                await self.remove_stale()
                run = self.runs[key] = GradingRun(cid, name, len(subs))
                grade = partial(service_ops.grade_one, self.store, course, src, by="service")
                run.task = asyncio.ensure_future(run.grade(grade, subs))
                log.info("Autograding %s/%s: %d submissions", cid, name, len(subs))
        self.write_json(run.as_dict(), status=202)


_A = rf"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}/autograde"
default_handlers = [(_A, AutogradeHandler)]
openapi_paths = {
    "/courses/{id}/assignments/{a}/autograde": {
        "post": op("Start grading the collected submissions (instructors): 202 with the "
                   "progress, as GET; a run already going is returned", params=["id", "a"]),
        "get": op("Progress of the latest grading (instructors): state "
                  "(idle|running|done|failed), total, done, graded, results",
                  params=["id", "a"]),
    },
}
