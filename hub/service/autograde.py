"""Autograding in the background: POST .../autograde starts grading the collected
submissions of an assignment; GET .../autograde says how far it is (state
idle|running|done|failed, total, done, graded, the results so far). POST waits for the
end up to `?wait=SECONDS` (default WAIT_DEFAULT, at most WAIT_MAX): 200 with the results
when the run is over by then, else 202 with the progress, to be followed with GET — a
small class is graded in one request, a class of hundreds (many minutes) is not held on
one. The runs are the service's (npuhub.hub.courses.grading_runs)."""

from __future__ import annotations

import asyncio

from tornado import web

from npuhub.hub.courses.course_file import CourseError
from npuhub.hub.schemas.courses import GradingProgress

from .courses import ASSIGNMENT, COURSE, CourseHandler
from .openapi import Op, Route

WAIT_DEFAULT, WAIT_MAX = 240.0, 600.0


class AutogradeHandler(CourseHandler):
    @property
    def grading(self):
        return self.service.grading

    async def get(self, cid, name):
        await self.instructor(cid, name)
        self.write_json(self.grading.progress(cid, name))

    async def post(self, cid, name):
        await self.instructor(cid, name)
        try:
            wait = float(self.get_query_argument("wait", str(WAIT_DEFAULT)))
        except ValueError:
            raise web.HTTPError(400, "wait: a number of seconds") from None
        if not 0 <= wait <= WAIT_MAX:
            raise web.HTTPError(400, f"wait: between 0 and {WAIT_MAX:g} seconds")
        try:
            run = await self.grading.start(self.store, cid, name, self.blocking)
        except CourseError as e:
            raise web.HTTPError(e.status, str(e)) from None
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
