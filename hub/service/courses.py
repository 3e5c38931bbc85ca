"""Courses: GET|POST /api/v1/courses, GET /api/v1/courses/{id}, GET .../grades
(?format=csv), and per assignment PUT .../source, POST .../release, GET .../fetch,
POST .../submit, GET .../feedback, POST .../collect, POST .../autograde, POST .../return.

Students fetch what is released, submit, and read their own feedback once the due date
has passed (or as the course's feedback policy says, or once an instructor returns it);
they never see sources, hidden tests or anyone else's submission.
Instructors act on their own courses only, administrators on all. Course state lives in
the platform database (npuhub.hub.courses.store). Each submission is graded in its own
isolated container, a few at a time, off the event loop (autograde.py).
"""

from __future__ import annotations

import logging

from tornado import web

from npuhub.hub.courses import service_ops
from npuhub.hub.courses.apply import apply_course
from npuhub.hub.courses.course_file import (
    CourseError,
    check_assignment,
    check_id,
    parse_course,
)
from npuhub.hub.courses.grades import grades_csv
from npuhub.hub.hubapi import HubAPIError
from npuhub.hub.refusals import render
from npuhub.hub.schemas.courses import Collected, Course, CourseDecl, Files, FileSet, Grade

from .base import APIHandler
from .openapi import Op, Route

COURSE = r"(?P<cid>[^/]+)"
ASSIGNMENT = r"(?P<name>[^/]+)"
CREATORS_GROUP = "instructors"  # members may create courses of their own
QUOTA_FIELDS = ("npus_per_student", "npu_hours_per_student", "datasets", "profile", "image")
log = logging.getLogger("npuhub.service.courses")


class CourseHandler(APIHandler):
    @property
    def store(self):
        return self.platform.courses

    async def call(self, fn, *args, **kwargs):
        """Run store work off the loop (a CourseError is answered by the base handler)."""
        try:
            return await self.blocking(fn, *args, **kwargs)
        except HubAPIError as e:
            raise web.HTTPError(502, f"The hub refused: {e}") from None

    async def role(self, cid: str) -> str | None:
        try:
            check_id(cid)
        except CourseError:
            raise CourseError("no_course", course=cid[:64]) from None
        return await self.call(self.store.role, cid, self.user_name, self.groups, self.is_admin)

    async def member(self, cid: str, name: str | None = None) -> str:
        role = await self.role(cid)
        if role is None:
            raise CourseError("no_course_of_yours", course=cid)
        if name is not None:
            check_assignment(name)
        return role

    async def instructor(self, cid: str, name: str | None = None) -> None:
        if await self.member(cid, name) != "instructor":
            raise CourseError("instructors_only", course=cid)

    def files_body(self, *, source: bool = False) -> dict[str, str]:
        return service_ops.check_files(self.body(Files).files, source=source)


class CourseListHandler(CourseHandler):
    async def get(self):
        courses = await self.call(self.store.courses_of, self.user_name, self.groups,
                                  self.is_admin)
        for c in courses:  # a failed scheduled release, said in the reader's language
            for a in c["assignments"]:
                if a.get("release_error"):
                    e = a["release_error"]
                    e["message"] = render(e["error"], e.get("params") or {}, self.lang)
        self.write_json(courses)

    async def post(self):
        course = parse_course(self.json_body(), allow_source=False)  # CourseDecl
        cid = course["id"]
        try:
            old = await self.blocking(self.store.get, cid)
        except CourseError:
            old = None
        if not self.is_admin:
            await self.check_creator(course, old)
        stored = await self.call(apply_course, course, api=self.service.hub,
                                 platform=self.platform, profiles=self.npuhub.profiles,
                                 create_users=self.is_admin, created_by=self.user_name,
                                 mounts_root=str(self.npuhub.path("mounts")))
        self.write_json(stored, 200 if old else 201)

    async def check_creator(self, course: dict, old: dict | None) -> None:
        """Instructors who are not administrators: their own courses, no more NPUs,
        datasets or images than an administrator gave the course."""
        if old is None and CREATORS_GROUP not in self.groups:
            raise web.HTTPError(403, f"Only administrators and members of the group "
                                f"{CREATORS_GROUP!r} may create courses")
        if old is not None and await self.role(course["id"]) != "instructor":
            raise CourseError("instructors_only_change", course=course["id"])
        if course["students_group"]:
            raise web.HTTPError(403, "Only administrators may name a group as students: "
                                "list the students by name")
        self.check_grading_limits(course["autograde"])
        if self.user_name not in course["instructors"]:
            course["instructors"] = sorted({*course["instructors"], self.user_name})
        had = {"npus_per_student": 0, "npu_hours_per_student": None, "datasets": [],
               "profile": None, "image": "npuhub/base:latest"}
        if old is not None:
            had.update({k: old.get(k) for k in ("npus_per_student", "npu_hours_per_student",
                                                "datasets")},
                       profile=old.get("profile_name"),
                       image=None if old.get("profile_name") else old["image"])
        changed = [k for k in QUOTA_FIELDS if course[k] != had[k]]
        if changed:
            raise web.HTTPError(403, f"Only administrators may set {', '.join(changed)} of a "
                                "course")


    def check_grading_limits(self, grading: dict) -> None:
        """Grading limits within the ceilings an administrator configured."""
        s = self.npuhub
        over = []
        if grading["timeout"] > s.grading_max_timeout:
            over.append(f"autograde.timeout above {s.grading_max_timeout} s")
        if memory_bytes(grading["memory"]) > memory_bytes(s.grading_max_memory):
            over.append(f"autograde.memory above {s.grading_max_memory}")
        if grading["cpus"] > s.grading_max_cpus:
            over.append(f"autograde.cpus above {s.grading_max_cpus:g}")
        if over:
            raise web.HTTPError(403, f"Only administrators may set {', '.join(over)}")


def memory_bytes(size: str) -> int:
    """512m -> bytes (sizes as course_file checks them: digits and k, m or g)."""
    return int(size[:-1]) * {"k": 1024, "m": 1024**2, "g": 1024**3}[size[-1].lower()]


class CourseItemHandler(CourseHandler):
    async def get(self, cid):
        await self.instructor(cid)
        self.write_json(await self.call(self.store.get, cid))


class SourceHandler(CourseHandler):
    async def put(self, cid, name):
        await self.instructor(cid, name)
        files = self.files_body(source=True)
        self.write_json(await self.call(self.store.set_source, cid, name, files))


class ReleaseHandler(CourseHandler):
    async def post(self, cid, name):
        await self.instructor(cid, name)
        self.write_json(await self.call(service_ops.release_assignment, self.store, cid,
                                        name, self.user_name))


class ReturnHandler(CourseHandler):
    async def post(self, cid, name):
        await self.instructor(cid, name)
        self.write_json(await self.call(self.store.return_feedback, cid, name,
                                        self.user_name))


def _preview(store, cid: str, name: str) -> dict[str, str]:
    """What students fetch: the released files, or before the release the student
    version the release would make (instructors look at it before releasing)."""
    src = store.source(cid, name)
    if src["released_at"] is None:
        if not src["source"]:
            raise CourseError("release_first", assignment=name)
        return service_ops.release_files(src["source"])[0]
    return src["released"]


class FetchHandler(CourseHandler):
    async def get(self, cid, name):
        role = await self.member(cid, name)
        if role == "instructor":
            files = await self.call(_preview, self.store, cid, name)
        else:
            files = await self.call(self.store.released_for_student, cid, name)
        self.write_json({"files": files})


class SubmitHandler(CourseHandler):
    async def post(self, cid, name):
        await self.member(cid, name)
        files = self.files_body()
        s = self.npuhub
        self.write_json(await self.call(
            self.store.submit, cid, name, self.user_name, files,
            max_attempts=s.submission_max_attempts, min_interval=s.submission_min_interval))


class FeedbackHandler(CourseHandler):
    async def get(self, cid, name):
        await self.member(cid, name)
        files = await self.call(service_ops.feedback_pages, self.store, cid, name,
                                self.user_name, self.lang)
        self.write_json({"files": files})


class CollectHandler(CourseHandler):
    async def post(self, cid, name):
        await self.instructor(cid, name)
        self.write_json({"submissions": await self.call(self.store.collect, cid, name)})


class GradesHandler(CourseHandler):
    async def get(self, cid):
        await self.instructor(cid)
        rows = await self.call(self.store.grades, cid)
        if self.get_query_argument("format", "json") == "csv":
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="{cid}-grades.csv"')
            self.finish(grades_csv(rows))
            return
        self.write_json(rows)


_A = rf"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}"
_E = (400, 404)  # a malformed name; no such course of yours
_ANY = {"type": "object"}
routes = [
    Route(r"/api/v1/courses", CourseListHandler, {
        "GET": Op("Your courses, your role, assignments and their state", {200: [Course]}),
        "POST": Op("Create or update a course (as in a course file; instructors)",
                   {200: Course, 201: Course}, body=CourseDecl, errors=(404, 409, 502)),
    }),
    Route(rf"/api/v1/courses/{COURSE}", CourseItemHandler, {
        "GET": Op("A course as applied (its instructors)", {200: Course}, errors=_E),
    }),
    Route(rf"/api/v1/courses/{COURSE}/grades", GradesHandler, {
        "GET": Op("Grades (instructors); ?format=csv for CSV", {200: [Grade]}, errors=_E,
                  query={"format": {"type": "string", "enum": ["json", "csv"]}},
                  also={"text/csv": {"type": "string"}}),
    }),
    Route(_A + "/source", SourceHandler, {
        "PUT": Op("Upload the source notebooks (instructors)", {200: _ANY}, body=Files,
                  errors=(*_E, 409, 413)),
    }),
    Route(_A + "/release", ReleaseHandler, {
        "POST": Op("Release the student version (instructors)", {200: _ANY},
                   errors=(*_E, 409)),
    }),
    Route(_A + "/fetch", FetchHandler, {
        "GET": Op("The released student version (instructors: also before the release)",
                  {200: FileSet}, errors=(*_E, 409)),
    }),
    Route(_A + "/submit", SubmitHandler, {
        "POST": Op("Submit your files", {200: _ANY}, body=Files, errors=(*_E, 409, 413)),
    }),
    Route(_A + "/feedback", FeedbackHandler, {
        "GET": Op("Your feedback (HTML), once returned", {200: FileSet},
                  errors=(*_E, 409)),
    }),
    Route(_A + "/return", ReturnHandler, {
        "POST": Op("Return the feedback to students now, whatever the course's feedback "
                   "policy (instructors)", {200: _ANY}, errors=(*_E, 409)),
    }),
    Route(_A + "/collect", CollectHandler, {
        "POST": Op("Collect the latest submissions (instructors)", {200: Collected},
                   errors=(*_E, 409)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
