"""Courses: a `kind: Course` document of `npuhub apply -f` and the body of POST /courses
(the same declaration), the uploaded files of PUT .../source and POST .../submit, and the
answers of the course resources. Names, times and limits are checked further by
npuhub.hub.courses.course_file.parse_course."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from .base import Body, Reply

Time = datetime | date | str | None
Text = str | int | float | None


class Autograde(Body):
    timeout: int | None = Field(None, ge=1, le=3600, description="Seconds per cell")
    memory: str | None = Field(None, description="e.g. 512m, 2g")
    cpus: int | float | None = Field(None, ge=0.1, le=4)


class AssignmentDecl(Body):
    name: str
    source: str | None = Field(None, description="A folder on the hub host (files only)")
    release: Time = None
    due: Time = None
    extensions: dict[str, Time] | None = Field(
        None, description="Per-student due dates: {student: time}", max_length=5000)


Percent = int | float | str | None


class LatePolicy(Body):
    penalty_per_day: Percent = Field(
        None, description="Percent of the score taken per day (or part of a day) late: 10%")
    max_penalty: Percent = Field(None, description="The most taken in all: 50% (default 100%)")
    zero_after_days: int | float | None = Field(
        None, ge=0, le=365, description="Days after the due date past which a submission "
        "scores 0")


class CourseDecl(Body):
    kind: Literal["Course"] = "Course"
    id: str = Field(description="lowercase letters, digits and '-'")
    title: Text = None
    term: Text = None
    instructors: list[str] | None = None
    students: list[str] | str | None = Field(
        None, description="User names, or the name of an existing group")
    profile: str | None = None
    image: str | None = None
    npus_per_student: int | None = Field(None, ge=0, le=64)
    npu_hours_per_student: int | float | None = Field(None, ge=0, le=10_000)
    datasets: list[str] | None = None
    autograde: Autograde | None = None
    timezone: str | None = Field(
        None, description="IANA time zone of times written without offset: Asia/Shanghai")
    late_policy: LatePolicy | None = None
    feedback: Literal["manual", "after_grading", "after_due"] | None = Field(
        None, description="When students read their feedback: manual (when an instructor "
        "returns it), after_grading, or after_due (default: once the due date has passed "
        "for everyone)")
    assignments: list[AssignmentDecl] | None = None

    def doc(self) -> dict:
        """The declaration as given, for parse_course."""
        return self.model_dump(exclude_unset=True)


class Files(Body):
    files: dict[str, str] = Field(
        description='{"relative/path.ipynb": "<text>", ...}', max_length=1000)


class FileSet(Reply):
    files: dict[str, Any]


class AssignmentState(Reply):
    name: str


class Course(Reply):
    id: str
    title: str


class Grade(Reply):
    student: str
    assignment: str
    score: float | None
    max_score: float | None


class GradingProgress(Reply):
    state: Literal["idle", "running", "done", "failed"]
    total: int
    done: int
    graded: int
    results: list[dict[str, Any]]
    error: str | None
    started: str | None
    finished: str | None


class Collected(Reply):
    submissions: list[dict[str, Any]]


class ManualGrade(Body):
    notebook: str = Field(max_length=300)
    grade_id: str = Field(max_length=200)
    points: int | float | None = Field(
        None, ge=0, description="Points given by hand (at most the cell's); null: none yet")
    comment: str | None = Field(None, max_length=10_000)


class ManualGrades(Body):
    grades: list[ManualGrade] = Field(max_length=1000)


class SubmissionGrades(Reply):
    student: str
    assignment: str
    attempt: int
    score: float
    max_score: float
    auto_score: float
    manual_score: float
    needs_manual_grading: bool
    needs_review: bool
    late: dict[str, Any]
    notebooks: list[dict[str, Any]]


class ExtensionBody(Body):
    due: Time = Field(description="The student's own due date (course time zone when "
                      "written without offset); null removes the extension")


class Extension(Reply):
    student: str
    assignment: str
    due: str | None
