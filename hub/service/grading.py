"""Grading by hand and due dates, for a course's instructors:

    GET|PUT .../assignments/{a}/submissions/{student}/grades   the cells graded by hand
    GET     .../assignments/{a}/extensions                     per-student due dates
    PUT     .../assignments/{a}/extensions/{student}           {"due": time | null}

GET shows the student's latest graded submission: each cell that needs a person (or was
flagged by the autograder) with the answer, the source's solution and mark scheme; PUT
gives points (0 to the cell's points) and comments. The grade combines both parts and the
late penalty (npuhub.hub.courses.manual, lateness); the student's feedback shows them.
"""

from __future__ import annotations

from npuhub.hub.courses import lateness
from npuhub.hub.courses.course_file import check_user, parse_time
from npuhub.hub.schemas.courses import (
    Extension,
    ExtensionBody,
    ManualGrades,
    SubmissionGrades,
)

from .courses import ASSIGNMENT, COURSE, CourseHandler
from .openapi import Op, Route

STUDENT = r"(?P<student>[^/]+)"


class SubmissionGradesHandler(CourseHandler):
    async def get(self, cid, name, student):
        await self.instructor(cid, name)
        self.write_json(await self.call(self.store.submission_grades, cid, name,
                                        check_user(student)))

    async def put(self, cid, name, student):
        await self.instructor(cid, name)
        body = self.body(ManualGrades)
        grades = [g.model_dump() for g in body.grades]
        self.write_json(await self.call(self.store.set_manual, cid, name, check_user(student),
                                        grades, self.user_name))


class ExtensionsHandler(CourseHandler):
    async def get(self, cid, name):
        await self.instructor(cid, name)
        self.write_json(await self.call(self.store.extensions, cid, name))


class ExtensionHandler(CourseHandler):
    async def put(self, cid, name, student):
        await self.instructor(cid, name)
        body = self.body(ExtensionBody)
        course = await self.call(self.store.get, cid)
        due = parse_time(body.due, "due", lateness.zone(course.get("timezone")))
        self.write_json(await self.call(self.store.set_extension, cid, name,
                                        check_user(student), due, self.user_name))


_A = rf"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}"
_E = (400, 404)
routes = [
    Route(_A + rf"/submissions/{STUDENT}/grades", SubmissionGradesHandler, {
        "GET": Op("A student's latest graded submission: the cells graded by hand (answer, "
                  "solution, mark scheme, points, comment) and the combined grade "
                  "(instructors)", {200: SubmissionGrades}, errors=(*_E, 409)),
        "PUT": Op("Give points (0 to the cell's) and comments by hand (instructors)",
                  {200: SubmissionGrades}, body=ManualGrades, errors=(*_E, 409)),
    }),
    Route(_A + "/extensions", ExtensionsHandler, {
        "GET": Op("Per-student due dates (instructors)", {200: [Extension]}, errors=_E),
    }),
    Route(_A + rf"/extensions/{STUDENT}", ExtensionHandler, {
        "PUT": Op("Give a student their own due date; null takes it back (instructors)",
                  {200: Extension}, body=ExtensionBody, errors=_E),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
