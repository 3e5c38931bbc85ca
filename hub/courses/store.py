"""Database operations on the courses tables. Every method is one short transaction and
returns plain dicts (callers on an event loop run them in an executor). Who may do what
is decided by the caller with `role()`; nothing here trusts a name it did not check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from npuhub.hub import clock, db

from .course_file import CourseError, instructors_group, students_group
from .models import Assignment, Course, CourseMember, Submission


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def course_dict(c: Course) -> dict:
    spec = dict(c.spec)
    return {**spec, "id": c.name, "title": c.title, "term": c.term, "image": c.image,
            "profile": c.profile, "autograde": c.grading,
            "instructors": sorted(m.user for m in c.members if m.role == "instructor"),
            "students": sorted(m.user for m in c.members if m.role == "student")}


def is_open(a: Assignment, now: datetime) -> bool:
    """Released and past its release time: students may fetch it."""
    return a.released_at is not None and (a.release is None or now >= a.release)


def feedback_returned(a: Assignment, now: datetime) -> bool:
    """Feedback shows hidden tests: students read it once the due date has passed."""
    return a.due is None or now >= a.due


def _role(c: Course, user: str, groups, admin: bool) -> str | None:
    roles = {m.role for m in c.members if m.user == user}
    groups = set(groups)
    if admin or "instructor" in roles or instructors_group(c.name) in groups:
        return "instructor"
    if "student" in roles or students_group(c.name) in groups:
        return "student"
    return None


class CourseStore(db.Store):
    @staticmethod
    def _course(s: Session, name: str) -> Course:
        c = Course.find(s, name)
        if c is None:
            raise CourseError("no_course", course=name)
        return c

    @staticmethod
    def _assignment(s: Session, course: str, name: str) -> Assignment:
        c = CourseStore._course(s, course)
        a = next((a for a in c.assignments if a.name == name), None)
        if a is None:
            raise CourseError("no_assignment", assignment=name, course=course)
        return a

    # ------------------------------------------------------------------ courses

    def upsert(self, course: dict, profile: dict, created_by: str = "") -> dict:
        """Create or update a checked course (see course_file.parse_course): roster
        replaced, assignments added or their times updated (never deleted here)."""
        spec = {k: course[k] for k in ("students_group", "npus_per_student",
                                       "npu_hours_per_student", "datasets")}
        spec["profile_name"] = course.get("profile")
        with self._write() as s:
            c = Course.find(s, course["id"])
            if c is None:
                c = Course(name=course["id"], created_by=created_by)
                s.add(c)
            c.title, c.term, c.image = course["title"], course["term"], profile["image"]
            c.profile, c.spec, c.grading = profile, spec, course["autograde"]
            wanted = {(u, "instructor") for u in course["instructors"]}
            wanted |= {(u, "student") for u in course["students"]}
            c.members = [m for m in c.members if (m.user, m.role) in wanted]
            have = {(m.user, m.role) for m in c.members}
            c.members.extend(CourseMember(user=u, role=r) for u, r in sorted(wanted - have))
            by_name = {a.name: a for a in c.assignments}
            for spec_a in course["assignments"]:
                a = by_name.get(spec_a["name"])
                if a is None:
                    a = Assignment(name=spec_a["name"], source={}, released={}, checksums={})
                    c.assignments.append(a)
                a.release, a.due = spec_a["release"], spec_a["due"]
            s.flush()
            return course_dict(c)

    def get(self, name: str) -> dict:
        with self._read() as s:
            return course_dict(self._course(s, name))

    def profiles(self) -> list[dict]:
        with self._read() as s:
            return [dict(p) for p in s.scalars(select(Course.profile).order_by(Course.name))]

    def role(self, name: str, user: str, groups, admin: bool = False) -> str | None:
        """"instructor", "student" or None: from the roster or the course's groups;
        administrators act as instructors of every course."""
        with self._read() as s:
            return _role(self._course(s, name), user, groups, admin)

    def courses_of(self, user: str, groups, admin: bool = False) -> list[dict]:
        """The caller's courses with their role and assignments (their own state)."""
        now = clock.utcnow()
        with self._read() as s:
            names = set(s.scalars(select(CourseMember.course_id).where(CourseMember.user == user)))
            out = []
            for c in s.scalars(select(Course).order_by(Course.name)):
                if not (admin or c.id in names or students_group(c.name) in groups
                        or instructors_group(c.name) in groups):
                    continue
                role = _role(c, user, groups, admin)
                out.append({"id": c.name, "title": c.title, "term": c.term, "role": role,
                            "assignments": [self._state(s, a, user, now) for a in c.assignments]})
            return out

    def _state(self, s: Session, a: Assignment, user: str, now: datetime) -> dict:
        subs = s.scalars(select(Submission).where(
            Submission.assignment_id == a.id, Submission.user == user)
            .order_by(Submission.attempt)).all()
        last = subs[-1] if subs else None
        graded = next((x for x in reversed(subs) if x.graded_at is not None), None)
        returned = graded is not None and feedback_returned(a, now)
        return {"name": a.name, "release": _iso(a.release), "due": _iso(a.due),
                "released": is_open(a, now), "submitted_at": _iso(last and last.submitted_at),
                "late": bool(last and last.late), "attempts": len(subs),
                "score": graded.score if returned else None,
                "max_score": graded.max_score if returned else None, "feedback": returned}

    # ------------------------------------------------------------------ assignments

    def set_source(self, course: str, name: str, files: dict[str, str]) -> dict:
        with self._write() as s:
            c = self._course(s, course)
            a = next((a for a in c.assignments if a.name == name), None)
            if a is None:
                a = Assignment(name=name, released={}, checksums={})
                c.assignments.append(a)
            a.source = dict(files)
            return {"assignment": name, "files": sorted(files)}

    def source(self, course: str, name: str) -> dict:
        with self._read() as s:
            a = self._assignment(s, course, name)
            return {"source": dict(a.source), "released": dict(a.released),
                    "checksums": dict(a.checksums), "due": a.due, "release": a.release,
                    "released_at": a.released_at}

    def set_released(self, course: str, name: str, released: dict, checksums: dict) -> dict:
        with self._write() as s:
            a = self._assignment(s, course, name)
            a.released, a.checksums, a.released_at = released, checksums, clock.utcnow()
            return {"released_at": _iso(a.released_at), "files": sorted(released)}

    def released_for_student(self, course: str, name: str) -> dict[str, str]:
        with self._read() as s:
            a = self._assignment(s, course, name)
            if not is_open(a, clock.utcnow()):
                if a.released_at and a.release:
                    raise CourseError("not_released_until", assignment=name, when=_iso(a.release))
                raise CourseError("not_released", assignment=name)
            return dict(a.released)

    # ------------------------------------------------------------------ submissions

    def submit(self, course: str, name: str, user: str, files: dict[str, str]) -> dict:
        now = clock.utcnow()
        with self._write() as s:
            a = self._assignment(s, course, name)
            if not is_open(a, now):
                raise CourseError("not_released", assignment=name)
            last = s.scalars(select(Submission.attempt).where(
                Submission.assignment_id == a.id, Submission.user == user)
                .order_by(Submission.attempt.desc()).limit(1)).first()
            sub = Submission(assignment_id=a.id, user=user, attempt=(last or 0) + 1,
                             submitted_at=now, late=bool(a.due and now > a.due), files=files)
            s.add(sub)
            return {"submitted_at": _iso(now), "late": sub.late, "attempt": sub.attempt}

    def collect(self, course: str, name: str) -> int:
        """Mark the latest attempt of each student as the one collected (for grading)."""
        now = clock.utcnow()
        with self._write() as s:
            a = self._assignment(s, course, name)
            subs = s.scalars(select(Submission).where(Submission.assignment_id == a.id)
                             .order_by(Submission.user, Submission.attempt)).all()
            latest = {x.user: x for x in subs}
            for x in subs:
                keep = latest[x.user] is x
                if keep and x.collected_at is None:
                    x.collected_at = now
                elif not keep:
                    x.collected_at = None
            return len(latest)

    def collected(self, course: str, name: str) -> list[dict]:
        with self._read() as s:
            a = self._assignment(s, course, name)
            subs = s.scalars(select(Submission).where(
                Submission.assignment_id == a.id, Submission.collected_at.is_not(None))
                .order_by(Submission.user)).all()
            return [{"id": x.id, "user": x.user, "attempt": x.attempt, "files": dict(x.files)}
                    for x in subs]

    def save_grade(self, submission_id: int, graded: dict) -> None:
        with self._write() as s:
            x = s.get(Submission, submission_id)
            if x is not None:
                x.score, x.max_score = graded["score"], graded["max_score"]
                x.result, x.feedback = graded["result"], graded["feedback"]
                x.graded_at = clock.utcnow()

    def feedback(self, course: str, name: str, user: str) -> dict[str, str]:
        with self._read() as s:
            a = self._assignment(s, course, name)
            x = s.scalars(select(Submission).where(
                Submission.assignment_id == a.id, Submission.user == user,
                Submission.graded_at.is_not(None))
                .order_by(Submission.attempt.desc()).limit(1)).first()
            if x is None:
                raise CourseError("no_feedback_yet", assignment=name)
            if not feedback_returned(a, clock.utcnow()):
                raise CourseError("feedback_after_due", assignment=name, due=_iso(a.due))
            return dict(x.feedback or {})

    def grades(self, course: str) -> list[dict]:
        with self._read() as s:
            c = self._course(s, course)
            rows = []
            for a in c.assignments:
                subs = s.scalars(select(Submission).where(
                    Submission.assignment_id == a.id, Submission.graded_at.is_not(None))
                    .order_by(Submission.user, Submission.attempt)).all()
                for x in {x.user: x for x in subs}.values():  # the latest graded attempt
                    rows.append({"student": x.user, "assignment": a.name, "score": x.score,
                                 "max_score": x.max_score, "submitted_at": _iso(x.submitted_at),
                                 "late": x.late, "attempt": x.attempt,
                                 "needs_review": bool((x.result or {}).get("needs_review"))})
            return sorted(rows, key=lambda r: (r["student"], r["assignment"]))


