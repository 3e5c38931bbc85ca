"""A course declaration (`kind: Course` in a file for `npuhub apply`, or the body of
`POST /api/v1/courses`), checked field by field into a plain dict. Pure: no I/O.

    kind: Course
    id: ai101                       # lowercase letters, digits, '-'
    title: Introduction to AI
    term: 2026 spring
    instructors: [alice]
    students: [s1, s2, s3]          # or the name of an existing group: students: cs-2026
    profile: base                   # a configured profile, or image: npuhub/base:latest
    npus_per_student: 1
    npu_hours_per_student: 10       # per week
    datasets: [mnist]
    autograde: {timeout: 60, memory: 512m, cpus: 1}   # optional: per cell seconds, limits
    timezone: Asia/Shanghai         # times without offset are in this zone (default UTC)
    late_policy: {penalty_per_day: 10%, max_penalty: 50%, zero_after_days: 7}
    feedback: after_due             # or manual (an instructor returns it), after_grading
    assignments:
      - {name: ps1, source: ps1, release: 2026-03-01T00:00:00Z, due: 2026-03-08T23:59:00Z,
         extensions: {s2: "2026-03-10T23:59"}}    # per-student due dates

The fields are declared once, in npuhub.hub.schemas.courses.CourseDecl (an unknown field
is refused with its name); the rules beyond the shape are checked here. Every refusal is
a `CourseError` whose message names the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from npuhub.hub.refusals import Refusal
from npuhub.hub.schemas import SchemaError, validate
from npuhub.hub.schemas.courses import CourseDecl

from . import lateness

COURSE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
ASSIGNMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
MEMORY = re.compile(r"^[0-9]{1,6}[kmg]$")
AUTOGRADE_DEFAULTS = {"timeout": 60, "memory": "512m", "cpus": 1.0}
MAX_STUDENTS = 5000


FEEDBACK_POLICIES = ("manual", "after_grading", "after_due")
FEEDBACK_DEFAULT = "after_due"  # as before the policy existed: feedback shows hidden tests


class CourseError(Refusal, ValueError):
    """A refusal of the course engine: a code (hub/refusals.py) or a sentence naming the
    field of a course file (code ``course_invalid``), with its HTTP status."""

    fallback = "course_invalid"


def _name(value, pattern: re.Pattern, what: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.match(value) or ".." in value:
        raise CourseError(f"{what} {str(value)[:80]!r} is not valid: {rule}")
    return value


def check_id(value) -> str:
    return _name(value, COURSE_ID, "course id", "lowercase letters, digits and '-', "
                 "starting with a letter or digit, at most 48 characters")


def check_assignment(value) -> str:
    return _name(value, ASSIGNMENT, "assignment name", "letters, digits, '.', '_' or '-', "
                 "starting with a letter or digit, at most 64 characters, no '..'")


def check_user(value) -> str:
    return _name(value, USER, "user name", "lowercase letters, digits and . _ @ + -")


def _text(doc: dict, key: str, limit: int) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise CourseError(f"{key} must be text")
    value = str(value)
    if len(value) > limit:
        raise CourseError(f"{key} is longer than {limit} characters")
    return value


def _users(value, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_STUDENTS:
        raise CourseError(f"{key} must be a list of user names (at most {MAX_STUDENTS})")
    return sorted({check_user(v) for v in value})


def parse_time(value, what: str, tz=UTC) -> datetime | None:
    """An ISO 8601 time (or a datetime YAML already parsed) as aware UTC; a time without
    offset is a wall-clock time in `tz` (the course's time zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, date):
        t = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CourseError(f"{what} {value[:60]!r} is not an ISO 8601 time, "
                              "e.g. 2026-03-08T23:59:00Z") from None
    else:
        raise CourseError(f"{what} must be an ISO 8601 time, e.g. 2026-03-08T23:59:00Z")
    try:
        return lateness.to_utc(t, tz)
    except (OverflowError, ValueError):  # year 1 at UTC+8 is before the first UTC year
        raise CourseError(f"{what} is out of range") from None


def _number(doc: dict, key: str, kind, default, low: float, high: float):
    value = doc.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not float(value).is_integer()):
        raise CourseError(f"{key} must be a {'whole ' if kind is int else ''}number")
    if not low <= value <= high:
        raise CourseError(f"{key} must be between {low:g} and {high:g}")
    return kind(value)


def _autograde(value) -> dict:
    if value is None:
        return dict(AUTOGRADE_DEFAULTS)
    out = dict(AUTOGRADE_DEFAULTS)
    value = {k: v for k, v in value.items() if v is not None}
    out["timeout"] = _number(value, "timeout", int, 60, 1, 3600)
    out["cpus"] = _number(value, "cpus", float, 1.0, 0.1, 4)
    memory = str(value.get("memory", "512m")).lower()
    if not MEMORY.match(memory):
        raise CourseError("autograde.memory must be a size like 512m or 2g")
    out["memory"] = memory
    return out


def _extensions(value, name: str, tz) -> dict[str, str]:
    """{student: {"due": ISO UTC, "by": "file"}} of an assignment's `extensions`."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_STUDENTS:
        raise CourseError(f"assignment {name}: extensions must map students to due dates")
    return {check_user(student): {"due": parse_time(due, f"assignment {name}: extension of "
                                                         f"{student}", tz).isoformat(),
                                  "by": "file"}
            for student, due in value.items() if due is not None}


def _assignments(value, *, allow_source: bool, tz=UTC) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CourseError("assignments must be a list")
    out, seen = [], set()
    for i, a in enumerate(value):
        if not isinstance(a, dict):
            raise CourseError(f"assignments[{i}] must be a mapping with name, source, "
                              "release, due")
        name = check_assignment(a.get("name"))
        if name in seen:
            raise CourseError(f"assignment {name!r} appears twice")
        seen.add(name)
        source = a.get("source")
        if source is not None and not allow_source:
            raise CourseError(f"assignment {name}: source folders are read on the hub host "
                              "by `npuhub apply` only; upload the notebooks with "
                              "PUT .../assignments/{name}/source")
        if source is not None and (not isinstance(source, str) or not source or "\0" in source):
            raise CourseError(f"assignment {name}: source must be a folder path")
        release = parse_time(a.get("release"), f"assignment {name}: release", tz)
        due = parse_time(a.get("due"), f"assignment {name}: due", tz)
        if release and due and due < release:
            raise CourseError(f"assignment {name}: due is before release")
        out.append({"name": name, "source": source, "release": release, "due": due,
                    "extensions": _extensions(a.get("extensions"), name, tz)})
    return out


def parse_course(doc: dict, *, allow_source: bool = True) -> dict:
    """The checked course of a declaration; `allow_source` False for the REST API."""
    if not isinstance(doc, dict):
        raise CourseError("a course is a mapping (kind: Course, id, title, ...)")
    try:
        doc = validate(CourseDecl, doc).doc()
    except SchemaError as e:
        raise CourseError(str(e)) from None
    course = {"id": check_id(doc.get("id")), "title": _text(doc, "title", 255),
              "term": _text(doc, "term", 64)}
    course["instructors"] = _users(doc.get("instructors"), "instructors")
    students = doc.get("students")
    if isinstance(students, str):
        course["students"], course["students_group"] = [], _name(
            students, GROUP, "students group", "an existing group name")
    else:
        course["students"], course["students_group"] = _users(students, "students"), None
    profile, image = doc.get("profile"), doc.get("image")
    if profile is not None and image is not None:
        raise CourseError("give either profile or image, not both")
    if profile is not None:
        profile = _name(profile, re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$"), "profile",
                        "the slug of a configured profile")
    if image is not None:
        image = _name(image, IMAGE, "image", "an image name such as npuhub/base:latest")
    if profile is None and image is None:
        image = "npuhub/base:latest"
    course["profile"], course["image"] = profile, image
    course["npus_per_student"] = _number(doc, "npus_per_student", int, 0, 0, 64)
    course["npu_hours_per_student"] = _number(doc, "npu_hours_per_student", float, None, 0,
                                              10_000)
    datasets = doc.get("datasets") or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise CourseError("datasets must be a list of dataset names")
    course["datasets"] = sorted(set(datasets))
    course["autograde"] = _autograde(doc.get("autograde"))
    try:
        tz = lateness.zone(doc.get("timezone"))
        course["late_policy"] = lateness.parse_policy(doc.get("late_policy"))
    except lateness.PolicyError as e:
        raise CourseError(str(e)) from None
    course["timezone"] = doc.get("timezone") or "UTC"
    course["feedback"] = doc.get("feedback") or FEEDBACK_DEFAULT
    course["assignments"] = _assignments(doc.get("assignments"), allow_source=allow_source,
                                         tz=tz)
    return course


def students_group(course_id: str) -> str:
    return f"course-{course_id}-students"


def instructors_group(course_id: str) -> str:
    return f"course-{course_id}-instructors"


def course_profile(course: dict, base: dict | None = None) -> dict:
    """The spawn profile only the course's members see: `base` (the configured profile
    the course names) or the course's image, with the course's NPU choices."""
    cid = course["id"]
    base = base or {}
    return {
        "slug": f"course-{cid}",
        "display_name": course["title"] or cid,
        "description": f"Course {cid}" + (f", {course['term']}" if course["term"] else ""),
        "image": base.get("image") or course["image"],
        "npus": list(range(course["npus_per_student"] + 1)),
        "device_type": base.get("device_type"),
        "groups": [students_group(cid), instructors_group(cid)],
    }
