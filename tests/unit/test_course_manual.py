"""Grading by hand, late penalties, extensions and the course time zone: the pure rules,
then the store on SQLite with a notebook the autograde runner executed in-process."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime

import nbformat
import pytest
import yaml

from npuhub.extensions.autograde import execute
from npuhub.hub.courses import lateness
from npuhub.hub.courses.assignment import release
from npuhub.hub.courses.course_file import CourseError, course_profile, parse_course
from npuhub.hub.courses.grading import prepare_for_grading, score
from npuhub.hub.courses.manual import mark_scheme
from npuhub.hub.courses.service_ops import feedback_pages
from tests.unit.test_course_grading import ANSWERS, COURSE, gid, source

DOC = """
kind: Course
id: ai101
instructors: [alice]
students: [s1, s2, s3]
timezone: Asia/Shanghai
late_policy: {penalty_per_day: 10%, max_penalty: 50%}
assignments:
  - name: ps1
    release: 2026-09-01T08:00
    due: 2026-09-15T23:59
    extensions: {s1: "2026-09-17T23:59"}
"""


def course(**changes):
    doc = yaml.safe_load(DOC)
    doc.update(changes)
    return doc


# ---------------------------------------------------------------- time zone


def test_times_without_offset_are_in_the_course_zone():
    c = parse_course(course())
    ps1 = c["assignments"][0]
    assert ps1["due"] == datetime(2026, 9, 15, 15, 59, tzinfo=UTC)  # not 07:59 the 16th
    assert ps1["release"] == datetime(2026, 9, 1, 0, 0, tzinfo=UTC)
    assert ps1["extensions"] == {"s1": {"due": "2026-09-17T15:59:00+00:00", "by": "file"}}
    assert c["timezone"] == "Asia/Shanghai"
    # YAML's own timestamps: a naive one is the course's wall clock, an offset is kept
    doc = yaml.safe_load("due: 2026-09-15 23:59:00\nat: 2026-09-15T23:59:00Z\n")
    tz = lateness.zone("Asia/Shanghai")
    assert lateness.to_utc(doc["due"], tz) == datetime(2026, 9, 15, 15, 59, tzinfo=UTC)
    assert lateness.to_utc(doc["at"], tz) == datetime(2026, 9, 15, 23, 59, tzinfo=UTC)
    # without a zone, UTC as before
    plain = parse_course(course(timezone=None))["assignments"][0]
    assert plain["due"] == datetime(2026, 9, 15, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("changes, message", [
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone must be an IANA time zone name"),
    ({"late_policy": {"penalty_per_day": "lots"}}, "late_policy.penalty_per_day must be a "
                                                   "percentage"),
    ({"late_policy": {"max_penalty": "150%"}}, "late_policy.max_penalty must be between"),
    ({"late_policy": {"zero_after_days": -1}}, "late_policy.zero_after_days"),
    ({"late_policy": {"per_day": "10%"}}, "unknown field 'late_policy.per_day'"),
    ({"assignments": [{"name": "a", "extensions": {"../x": "2026-09-01"}}]}, "user name"),
    ({"assignments": [{"name": "a", "due": "0001-01-01T00:00"}]}, "a: due is out of range"),
    ({"assignments": [{"name": "a", "extensions": {"s1": "soon"}}]},
     "extension of s1 'soon' is not an ISO 8601 time"),
])
def test_refusals_name_the_field(changes, message):
    with pytest.raises(CourseError, match=message.replace("(", r"\(")):
        parse_course(course(**changes))


# ---------------------------------------------------------------- late policy


def test_penalty_counts_each_day_or_part_of_a_day_up_to_the_most():
    policy = lateness.parse_policy({"penalty_per_day": "10%", "max_penalty": 50})
    due = datetime(2026, 9, 15, 15, 59, tzinfo=UTC)

    def late(**delta):
        from datetime import timedelta
        return lateness.penalty(policy, due + timedelta(**delta), due)

    assert late(seconds=-1) == {"late": False, "seconds": 0, "days": 0, "percent": 0.0,
                                "zero": False, "due": "2026-09-15T15:59:00+00:00"}
    assert (late(minutes=1)["days"], late(minutes=1)["percent"]) == (1, 10.0)
    assert (late(hours=36)["days"], late(hours=36)["percent"]) == (2, 20.0)
    assert late(days=9)["percent"] == 50.0
    assert lateness.apply(8.0, late(hours=36)) == 6.4
    cut = lateness.parse_policy({"penalty_per_day": 5, "zero_after_days": 3})
    gone = lateness.penalty(cut, due.replace(day=19), due)
    assert gone["zero"] and lateness.apply(8.0, gone) == 0.0
    assert lateness.penalty(cut, due.replace(day=17), due)["percent"] == 10.0
    assert lateness.penalty(None, due.replace(day=20), due)["percent"] == 0.0  # no policy


def test_mark_scheme_is_the_text_between_its_delimiters():
    text = "Explain.\n\n=== BEGIN MARK SCHEME ===\n1 point: mentions X\n=== END MARK SCHEME ==="
    assert mark_scheme(text) == "1 point: mentions X"
    assert mark_scheme("Explain.") is None


# ---------------------------------------------------------------- the store


@pytest.fixture(scope="module")
def executed_submissions():
    """Two students' submissions of ps1, executed once: s1 answers everything, s2 leaves
    `answer` untouched."""
    out = {}
    for who, answers in (("s1", ANSWERS), ("s2", {k: v for k, v in ANSWERS.items()
                                                  if k != "answer"})):
        student, _ = release(source())
        for cell in student.cells:
            if gid(cell) in answers:
                cell.source = answers[gid(cell)]
        nb = prepare_for_grading(student, source())
        assert asyncio.run(execute(nb, timeout=20, cwd=str(COURSE))) == "ok"
        out[who] = (nbformat.writes(student), nb)
    return out


@pytest.fixture
def store(tmp_path):
    from npuhub.hub import db
    from npuhub.hub.courses.store import CourseStore

    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    db.upgrade(url)
    s = CourseStore(db.session_factory(db.make_engine(url)))
    c = parse_course(course())
    s.upsert(c, course_profile(c), "admin")
    text = (COURSE / "ps1" / "problems.ipynb").read_text()
    s.set_source("ai101", "ps1", {"problems.ipynb": text})
    s.set_released("ai101", "ps1", {"problems.ipynb": nbformat.writes(release(source())[0])},
                   {})
    return s


def at(monkeypatch, when: str):
    from npuhub.hub import clock

    monkeypatch.setattr(clock, "utcnow", lambda: datetime.fromisoformat(when))


def grade_all(store, executed_submissions, monkeypatch, when="2026-09-17T03:59:00+00:00"):
    """s1 and s2 submit 36 hours after the due date (s1 has an extension), graded."""
    at(monkeypatch, when)
    for who, (files, _) in executed_submissions.items():
        store.submit("ai101", "ps1", who, {"problems.ipynb": files})
    store.collect("ai101", "ps1")
    for sub in store.collected("ai101", "ps1"):
        nb = executed_submissions[sub["user"]][1]
        result = score(copy.deepcopy(nb))
        store.save_grade(sub["id"], {
            "score": result["score"], "max_score": result["max_score"], "feedback": {},
            "result": {"notebooks": {"problems.ipynb": result}, "status": "ok",
                       "needs_review": False},
            "executed": {"problems.ipynb": nbformat.writes(nb)}})


def test_instructor_grades_by_hand_and_the_student_reads_points_and_comment(
        store, executed_submissions, monkeypatch):
    grade_all(store, executed_submissions, monkeypatch)
    sheet = store.submission_grades("ai101", "ps1", "s2")
    cells = {c["grade_id"]: c for c in sheet["notebooks"][0]["cells"]}
    assert sorted(cells) == ["explain"]  # `answer` untouched: 0 by nbgrader's rule
    assert cells["explain"]["answer"] == "Because."
    assert (cells["explain"]["max_points"], cells["explain"]["points"]) == (1.0, None)
    assert sheet["needs_manual_grading"] and sheet["auto_score"] == 5.0
    with pytest.raises(CourseError, match="outside 0 to 1"):
        store.set_manual("ai101", "ps1", "s2", [{"notebook": "problems.ipynb",
                                                "grade_id": "explain", "points": 2}], "alice")
    with pytest.raises(CourseError, match="no graded cell nope"):
        store.set_manual("ai101", "ps1", "s2", [{"notebook": "problems.ipynb",
                                                "grade_id": "nope", "points": 1}], "alice")
    sheet = store.set_manual("ai101", "ps1", "s2", [{
        "notebook": "problems.ipynb", "grade_id": "explain", "points": 1,
        "comment": "Short, but <right>."}], "alice")
    # auto + manual, then the late penalty: 36 h late is 2 days, 20% of 6
    assert (sheet["auto_score"], sheet["manual_score"], sheet["raw_score"]) == (5, 1, 6)
    assert sheet["score"] == 4.8 and not sheet["needs_manual_grading"]
    assert sheet["late"]["days"] == 2 and sheet["late"]["percent"] == 20.0
    row = next(r for r in store.grades("ai101") if r["student"] == "s2")
    assert (row["score"], row["raw_score"], row["late"], row["late_penalty"]) == (
        4.8, 6.0, True, 20.0)
    assert row["needs_manual_grading"] is False

    at(monkeypatch, "2026-09-18T00:00:00+00:00")  # past everyone's due date
    page = feedback_pages(store, "ai101", "ps1", "s2")["problems.html"]
    assert "Score: 4.8 / 7" in page
    assert "1 / 1 points, graded by hand" in page
    assert "comment: Short, but &lt;right&gt;." in page
    assert "Submitted 2 day(s) late (due 2026-09-15T15:59:00+00:00): 20% taken from 6" in page
    zh = feedback_pages(store, "ai101", "ps1", "s2", "zh_CN")["problems.html"]
    assert "得分：4.8 / 7" in zh and "评语：Short, but &lt;right&gt;." in zh
    assert "迟交 2 天" in zh


def test_an_extension_lifts_the_penalty_for_one_student(store, executed_submissions,
                                                        monkeypatch):
    grade_all(store, executed_submissions, monkeypatch)
    rows = {r["student"]: r for r in store.grades("ai101")}
    assert (rows["s1"]["late"], rows["s1"]["late_penalty"], rows["s1"]["score"]) == (
        False, 0.0, 5.0)  # due for s1: the 17th, 23:59 in Shanghai
    assert (rows["s2"]["late"], rows["s2"]["late_penalty"], rows["s2"]["score"]) == (
        True, 20.0, 4.0)
    # an instructor's extension (REST) for s2, in the course's zone
    tz = lateness.zone("Asia/Shanghai")
    due = lateness.to_utc(datetime(2026, 9, 17, 12, 0), tz)
    assert store.set_extension("ai101", "ps1", "s2", due, "alice")["due"] == (
        "2026-09-17T04:00:00+00:00")
    assert store.grades("ai101")[1]["score"] == 5.0
    assert [e["student"] for e in store.extensions("ai101", "ps1")] == ["s1", "s2"]
    # re-applying the course file keeps the instructor's extension
    c = parse_course(course())
    store.upsert(c, course_profile(c), "admin")
    assert {e["student"]: e["by"] for e in store.extensions("ai101", "ps1")} == {
        "s1": "file", "s2": "alice"}
    with pytest.raises(CourseError, match="s9 is not a student of ai101"):
        store.set_extension("ai101", "ps1", "s9", due, "alice")
    # feedback (hidden tests) waits for the last due date of anyone
    at(monkeypatch, "2026-09-17T10:00:00+00:00")
    with pytest.raises(CourseError, match="after its due date"):
        feedback_pages(store, "ai101", "ps1", "s2")
    store.set_extension("ai101", "ps1", "s2", None, "alice")
    assert store.grades("ai101")[1]["score"] == 4.0


def test_export_opens_in_nbgrader(store, executed_submissions, monkeypatch, tmp_path):
    from nbgrader.api import Gradebook

    from npuhub.hub.courses.export import export_course

    grade_all(store, executed_submissions, monkeypatch)
    store.set_manual("ai101", "ps1", "s2", [{"notebook": "problems.ipynb",
                                            "grade_id": "explain", "points": 1,
                                            "comment": "Well put."}], "alice")
    out = tmp_path / "nbgrader"
    counts = export_course(store.export_data("ai101"), out)
    assert counts == {"students": 3, "assignments": 1, "submissions": 2}
    for path in ("nbgrader_config.py", "source/ps1/problems.ipynb",
                 "release/ps1/problems.ipynb", "submitted/s2/ps1/problems.ipynb",
                 "submitted/s2/ps1/timestamp.txt", "autograded/s2/ps1/problems.ipynb",
                 "feedback/s2/ps1/problems.html"):
        assert (out / path).is_file(), path
    assert "BEGIN SOLUTION" not in (out / "release/ps1/problems.ipynb").read_text()
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course_id="ai101") as gb:
        assert [s.id for s in gb.students] == ["s1", "s2", "s3"]
        a = gb.find_assignment("ps1")
        assert a.duedate == datetime(2026, 9, 15, 15, 59)
        assert [c.name for c in gb.find_notebook("problems", "ps1").grade_cells] == [
            "test_squares", "test_hypotenuse", "answer", "explain"]
        s2 = gb.find_submission("ps1", "s2")
        assert (s2.score, s2.max_score) == (6.0, 7.0)
        assert s2.late_submission_penalty == pytest.approx(1.2)
        explain = gb.find_grade("explain", "problems", "ps1", "s2")
        assert (explain.manual_score, explain.needs_manual_grade) == (1.0, False)
        assert gb.find_comment("explain", "problems", "ps1", "s2").comment == "Well put."
        assert gb.find_grade("test_hypotenuse", "problems", "ps1", "s2").auto_score == 3.0
        s1 = gb.find_submission("ps1", "s1")
        assert s1.extension is not None and s1.late_submission_penalty == 0.0
        assert gb.find_grade("explain", "problems", "ps1", "s1").needs_manual_grade
    with pytest.raises(CourseError, match="not empty"):
        export_course(store.export_data("ai101", "ps1"), out)
