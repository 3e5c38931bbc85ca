"""Database operations on the courses tables. Every method is one short transaction and
returns plain dicts (callers on an event loop run them in an executor). Who may do what
is decided by the caller with `role()`; nothing here trusts a name it did not check."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from npuhub.hub import clock, db

from . import lateness, manual
from .course_file import FEEDBACK_DEFAULT, CourseError, instructors_group, students_group
from .models import Assignment, Course, CourseMember, Submission


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def course_dict(c: Course) -> dict:
    spec = dict(c.spec)
    return {**spec, "id": c.name, "title": c.title, "term": c.term, "image": c.image,
            "profile": c.profile, "autograde": c.grading,
            "instructors": sorted(m.user for m in c.members if m.role == "instructor"),
            "students": sorted(m.user for m in c.members if m.role == "student")}


def is_open(a: Assignment) -> bool:
    """Released (by an instructor, or by the schedule at its `release` time): students
    may fetch it."""
    return a.released_at is not None


def feedback_policy(c: Course) -> str:
    return (c.spec or {}).get("feedback") or FEEDBACK_DEFAULT


def feedback_held(a: Assignment, now: datetime) -> dict | None:
    """Why students may not read their feedback yet (None: they may, once graded).
    Feedback shows hidden tests: an instructor returns it, or the course's policy does
    (after_grading; after_due: once the due date has passed for everyone, the latest
    extension included)."""
    if a.feedback_returned_at is not None:
        return None
    policy = feedback_policy(a.course)
    if policy == "after_grading":
        return None
    if policy == "manual":
        return {"until": "instructor"}
    last = lateness.last_due(a.due, a.extensions)
    if last is None or now >= last:
        return None
    return {"until": "due", "due": _iso(last),
            "when": lateness.local(last, (a.course.spec or {}).get("timezone"))}


def late_of(c: Course, a: Assignment, user: str, submitted_at: datetime | None) -> dict:
    """How late `user`'s submission is against their own due date, and its penalty."""
    due = lateness.due_for(a.due, a.extensions, user)
    return lateness.penalty((c.spec or {}).get("late_policy"), submitted_at, due)


def grade_of(x: Submission) -> dict:
    """The combined grade of a graded submission (manual.combine)."""
    a = x.assignment
    late = late_of(a.course, a, x.user, x.submitted_at)
    if not (x.result or {}).get("notebooks"):  # no cells recorded: the score as stored
        result = x.result or {}
        return {"notebooks": {}, "auto_score": x.score or 0.0, "manual_score": 0.0,
                "raw_score": x.score or 0.0, "score": x.score or 0.0,
                "max_score": x.max_score or 0.0, "status": result.get("status", "ok"),
                "needs_manual_grading": bool(result.get("needs_manual_grading")),
                "needs_review": bool(result.get("needs_review")), "late": late}
    return manual.combine(x.result, x.manual, late)


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
        spec["timezone"] = course.get("timezone", "UTC")
        spec["late_policy"] = course.get("late_policy") or dict(lateness.NO_POLICY)
        spec["profile_name"] = course.get("profile")
        spec["feedback"] = course.get("feedback") or FEEDBACK_DEFAULT
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
                if a.release != spec_a["release"]:
                    a.release_error = None  # a new release time: the schedule tries again
                a.release, a.due = spec_a["release"], spec_a["due"]
                # the file's extensions replace the file's; an instructor's (REST) stay
                kept = {u: e for u, e in (a.extensions or {}).items() if e.get("by") != "file"}
                a.extensions = {**spec_a.get("extensions", {}), **kept}
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
                states = [self._state(s, a, user, now) for a in c.assignments]
                if role == "instructor":
                    for a, state in zip(c.assignments, states, strict=True):
                        state["counts"] = self._counts(s, a)
                        state.update(self._instructor_state(a))
                out.append({"id": c.name, "title": c.title, "term": c.term, "role": role,
                            "timezone": (c.spec or {}).get("timezone", "UTC"),
                            "feedback_policy": feedback_policy(c), "assignments": states})
            return out

    @staticmethod
    def _counts(s: Session, a: Assignment) -> dict:
        """What an instructor's row counts, one per student (their latest attempt):
        submitted, collected, graded, late, and "newer" (an attempt after the graded one,
        not graded yet); when the last grading ran."""
        subs = s.scalars(select(Submission).where(Submission.assignment_id == a.id)
                         .order_by(Submission.user, Submission.attempt)).all()
        latest = {x.user: x for x in subs}
        graded = {x.user for x in subs if x.graded_at is not None}
        last = max((x.graded_at for x in subs if x.graded_at is not None), default=None)
        return {"submitted": len(latest), "last_graded": _iso(last),
                "collected": sum(x.collected_at is not None for x in latest.values()),
                "graded": len(graded),
                "late": sum(bool(x.late) for x in latest.values()),
                "newer": sum(x.graded_at is None for u, x in latest.items() if u in graded)}

    @staticmethod
    def _instructor_state(a: Assignment) -> dict:
        """Who released it (or why the schedule could not), whether feedback was returned."""
        return {"released_at": _iso(a.released_at), "released_by": a.released_by,
                "release_error": a.release_error,
                "feedback_returned_at": _iso(a.feedback_returned_at),
                "feedback_returned_by": a.feedback_returned_by}

    def _state(self, s: Session, a: Assignment, user: str, now: datetime) -> dict:
        subs = s.scalars(select(Submission).where(
            Submission.assignment_id == a.id, Submission.user == user)
            .order_by(Submission.attempt)).all()
        last = subs[-1] if subs else None
        graded = next((x for x in reversed(subs) if x.graded_at is not None), None)
        held = feedback_held(a, now)
        returned = graded is not None and held is None
        grade = grade_of(graded) if returned else None
        late = late_of(a.course, a, user, last and last.submitted_at)
        return {"name": a.name, "release": _iso(a.release), "due": _iso(a.due),
                "my_due": late["due"], "released": is_open(a),
                "submitted_at": _iso(last and last.submitted_at),
                "late": late["late"], "attempts": len(subs),
                "score": grade["score"] if grade else None,
                "max_score": grade["max_score"] if grade else None, "feedback": returned,
                "graded": graded is not None, "feedback_held": held}

    # ------------------------------------------------------------------ assignments

    def set_source(self, course: str, name: str, files: dict[str, str]) -> dict:
        with self._write() as s:
            c = self._course(s, course)
            a = next((a for a in c.assignments if a.name == name), None)
            if a is None:
                a = Assignment(name=name, released={}, checksums={})
                c.assignments.append(a)
            a.source = dict(files)
            a.release_error = None  # new sources: a scheduled release tries again
            return {"assignment": name, "files": sorted(files)}

    def source(self, course: str, name: str) -> dict:
        with self._read() as s:
            a = self._assignment(s, course, name)
            return {"source": dict(a.source), "released": dict(a.released),
                    "checksums": dict(a.checksums), "due": a.due, "release": a.release,
                    "released_at": a.released_at}

    def set_released(self, course: str, name: str, released: dict, checksums: dict,
                     by: str = "cli", *, only_once: bool = False) -> dict | None:
        """Store the student version (released now, by `by`). `only_once` (the schedule):
        only if nobody released it meanwhile, in one conditional UPDATE (None if not)."""
        now = clock.utcnow()
        values = {"released": released, "checksums": checksums, "released_at": now,
                  "released_by": by[:255], "release_error": None}
        with self._write() as s:
            a = self._assignment(s, course, name)
            where = [Assignment.id == a.id]
            if only_once:
                where.append(Assignment.released_at.is_(None))
            done = s.execute(update(Assignment).where(*where).values(**values)
                             .execution_options(synchronize_session=False))
            if done.rowcount != 1:
                return None
            return {"released_at": _iso(now), "released_by": by, "files": sorted(released)}

    def due_releases(self, now: datetime) -> list[tuple[str, str]]:
        """(course, assignment) whose `release` time has come and that nobody released
        yet, except those whose scheduled release failed (until their sources or their
        release time change)."""
        with self._read() as s:
            rows = s.execute(select(Course.name, Assignment.name).join(Assignment.course)
                             .where(Assignment.released_at.is_(None),
                                    Assignment.release.is_not(None),
                                    Assignment.release <= now,
                                    Assignment.release_error.is_(None))
                             .order_by(Assignment.release, Assignment.id)).all()
            return [(c, a) for c, a in rows]

    def set_release_error(self, course: str, name: str, code: str, params: dict) -> None:
        """Record why the schedule could not release (shown to instructors)."""
        with self._write() as s:
            a = self._assignment(s, course, name)
            if a.released_at is None:
                a.release_error = {"error": code, "params": params,
                                   "at": _iso(clock.utcnow())}

    def released_for_student(self, course: str, name: str) -> dict[str, str]:
        with self._read() as s:
            a = self._assignment(s, course, name)
            if not is_open(a):
                if a.release and a.release > clock.utcnow():
                    raise CourseError("not_released_until", assignment=name, when=_iso(a.release))
                raise CourseError("not_released", assignment=name)
            return dict(a.released)

    def return_feedback(self, course: str, name: str, by: str) -> dict:
        """An instructor returns the feedback of an assignment: students read theirs
        from now on, whatever the course's policy (once is enough: kept as first given)."""
        with self._write() as s:
            a = self._assignment(s, course, name)
            if a.released_at is None:
                raise CourseError("release_first", assignment=name)
            if a.feedback_returned_at is None:
                a.feedback_returned_at, a.feedback_returned_by = clock.utcnow(), by[:255]
            graded = s.scalars(select(Submission.user).where(
                Submission.assignment_id == a.id, Submission.graded_at.is_not(None))
                .distinct()).all()
            return {"assignment": name, "returned_at": _iso(a.feedback_returned_at),
                    "returned_by": a.feedback_returned_by, "students": len(graded)}

    # ------------------------------------------------------------------ submissions

    def submit(self, course: str, name: str, user: str, files: dict[str, str], *,
               max_attempts: int | None = None, min_interval: float = 0.0) -> dict:
        """A new attempt of `user`; at most `max_attempts` of them, `min_interval` seconds
        apart (the check and the insert are one transaction: two submissions at once
        make one attempt, the other is told to wait)."""
        now = clock.utcnow()
        try:
            with self._write() as s:
                a = self._assignment(s, course, name)
                if not is_open(a):
                    raise CourseError("not_released", assignment=name)
                last = s.execute(select(Submission.attempt, Submission.submitted_at).where(
                    Submission.assignment_id == a.id, Submission.user == user)
                    .order_by(Submission.attempt.desc()).limit(1)).first()
                if last is not None:
                    if max_attempts is not None and last.attempt >= max_attempts:
                        raise CourseError("too_many_attempts", assignment=name,
                                          limit=max_attempts)
                    since = (now - last.submitted_at).total_seconds()
                    if since < min_interval:
                        raise CourseError("submit_too_soon", assignment=name,
                                          seconds=max(1, math.ceil(min_interval - since)))
                due = lateness.due_for(a.due, a.extensions, user)
                sub = Submission(assignment_id=a.id, user=user,
                                 attempt=(last.attempt if last else 0) + 1, submitted_at=now,
                                 late=bool(due and now > due), files=files)
                s.add(sub)
                s.flush()
                return {"submitted_at": _iso(now), "late": sub.late, "attempt": sub.attempt}
        except IntegrityError:  # the same attempt number, written at once by another request
            raise CourseError("submit_too_soon", assignment=name,
                              seconds=max(1, math.ceil(min_interval))) from None

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

    def save_grade(self, submission_id: int, graded: dict) -> dict | None:
        """Store an autograding result (grades given by hand stay); the combined grade."""
        with self._write() as s:
            x = s.get(Submission, submission_id)
            if x is None:
                return None
            x.result, x.feedback = graded["result"], graded["feedback"]
            x.executed = graded.get("executed")
            x.score, x.max_score = graded["score"], graded["max_score"]
            x.graded_at = clock.utcnow()
            grade = grade_of(x)
            x.score, x.max_score = grade["score"], grade["max_score"]
            return grade

    @staticmethod
    def _graded(s: Session, a: Assignment, user: str) -> Submission | None:
        """The latest graded attempt of `user`."""
        return s.scalars(select(Submission).where(
            Submission.assignment_id == a.id, Submission.user == user,
            Submission.graded_at.is_not(None))
            .order_by(Submission.attempt.desc()).limit(1)).first()

    def feedback(self, course: str, name: str, user: str) -> dict:
        """What the student's feedback is made of: {feedback (pages stored at grading),
        executed ({rel: notebook text} or None), grade (manual.combine)}."""
        with self._read() as s:
            a = self._assignment(s, course, name)
            x = self._graded(s, a, user)
            if x is None:
                raise CourseError("no_feedback_yet", assignment=name)
            held = feedback_held(a, clock.utcnow())
            if held is not None and held["until"] == "instructor":
                raise CourseError("feedback_held", assignment=name)
            if held is not None:
                raise CourseError("feedback_after_due", assignment=name, due=held["due"],
                                  when=held["when"])
            return {"feedback": dict(x.feedback or {}), "executed": x.executed,
                    "grade": grade_of(x)}

    # ------------------------------------------------------------------ by hand

    def submission_grades(self, course: str, name: str, user: str) -> dict:
        """The latest graded submission of `user` for an instructor: the combined grade
        and the sheet of cells to grade by hand (manual.review_sheet)."""
        with self._read() as s:
            a = self._assignment(s, course, name)
            x = self._graded(s, a, user)
            if x is None:
                raise CourseError("not_graded_yet", assignment=name, student=user)
            grade = grade_of(x)
            return self._sheet(a, x, grade)

    @staticmethod
    def _sheet(a: Assignment, x: Submission, grade: dict) -> dict:
        return {"student": x.user, "assignment": a.name, "attempt": x.attempt,
                "submitted_at": _iso(x.submitted_at),
                **{k: grade[k] for k in ("score", "max_score", "auto_score", "manual_score",
                                         "raw_score", "needs_manual_grading",
                                         "needs_review", "late")},
                "notebooks": manual.review_sheet(grade, a.source or {}, x.files or {},
                                                 a.released or {})}

    def set_manual(self, course: str, name: str, user: str, grades: list[dict],
                   by: str) -> dict:
        """Give points and comments by hand to `user`'s latest graded submission."""
        with self._write() as s:
            a = self._assignment(s, course, name)
            x = self._graded(s, a, user)
            if x is None:
                raise CourseError("not_graded_yet", assignment=name, student=user)
            x.manual = manual.updated(x.result, x.manual, grades, by)
            grade = grade_of(x)
            x.score, x.max_score = grade["score"], grade["max_score"]
            return self._sheet(a, x, grade)

    def set_extension(self, course: str, name: str, user: str, due: datetime | None,
                      by: str) -> dict:
        """Give `user` their own due date for an assignment (None: take it back)."""
        with self._write() as s:
            a = self._assignment(s, course, name)
            if user not in {m.user for m in a.course.members if m.role == "student"} and \
                    a.course.spec.get("students_group") is None:
                raise CourseError("not_a_student", student=user, course=course)
            ext = dict(a.extensions or {})
            if due is None:
                ext.pop(user, None)
            else:
                ext[user] = {"due": due.isoformat(), "by": by}
            a.extensions = ext
            return {"student": user, "assignment": name,
                    "due": ext[user]["due"] if user in ext else None}

    def extensions(self, course: str, name: str) -> list[dict]:
        with self._read() as s:
            a = self._assignment(s, course, name)
            return [{"student": u, "assignment": name, "due": e.get("due"), "by": e.get("by")}
                    for u, e in sorted((a.extensions or {}).items())]

    def grades(self, course: str) -> list[dict]:
        with self._read() as s:
            c = self._course(s, course)
            rows = []
            for a in c.assignments:
                subs = s.scalars(select(Submission).where(
                    Submission.assignment_id == a.id, Submission.graded_at.is_not(None))
                    .order_by(Submission.user, Submission.attempt)).all()
                for x in {x.user: x for x in subs}.values():  # the latest graded attempt
                    g = grade_of(x)
                    rows.append({"student": x.user, "assignment": a.name, "score": g["score"],
                                 "max_score": g["max_score"], "submitted_at": _iso(x.submitted_at),
                                 "late": g["late"]["late"], "attempt": x.attempt,
                                 "needs_review": g["needs_review"],
                                 "needs_manual_grading": g["needs_manual_grading"],
                                 "raw_score": g["raw_score"], "days_late": g["late"]["days"],
                                 "late_penalty": g["late"]["percent"]})
            return sorted(rows, key=lambda r: (r["student"], r["assignment"]))



    # ------------------------------------------------------------------ export

    def export_data(self, course: str, name: str | None = None) -> dict:
        """Everything `npuhub course export` writes: the course, its students, and per
        assignment the sources, the release and each student's latest submission (the
        latest graded one when there is one) with its executed notebooks and grade."""
        with self._read() as s:
            c = self._course(s, course)
            chosen = [a for a in c.assignments if name is None or a.name == name]
            if name is not None and not chosen:
                raise CourseError("no_assignment", assignment=name, course=course)
            out = {"id": c.name, "title": c.title, "assignments": [],
                   "students": sorted(m.user for m in c.members if m.role == "student")}
            for a in chosen:
                subs = s.scalars(select(Submission).where(Submission.assignment_id == a.id)
                                 .order_by(Submission.user, Submission.attempt)).all()
                latest: dict[str, Submission] = {}
                for x in subs:
                    if x.graded_at is not None or latest.get(x.user) is None or \
                            latest[x.user].graded_at is None:
                        latest[x.user] = x
                out["assignments"].append({
                    "name": a.name, "due": a.due, "source": dict(a.source or {}),
                    "released": dict(a.released or {}),
                    "submissions": [{
                        "student": x.user, "attempt": x.attempt,
                        "submitted_at": x.submitted_at, "files": dict(x.files or {}),
                        "executed": dict(x.executed or {}),
                        "extension": lateness.due_for(a.due, a.extensions, x.user),
                        "grade": grade_of(x) if x.graded_at is not None else None}
                        for x in latest.values()]})
            return out
