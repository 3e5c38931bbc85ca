"""Release times and returning feedback, in the courses' store (SQLite and PostgreSQL):
the schedule releases an assignment once its time has come, exactly once, and records a
release it could not make; an instructor releases earlier; feedback is held until an
instructor returns it or the course's policy (after_grading, after_due) lets it go, and
nothing of it reaches the student before."""

from __future__ import annotations

from pathlib import Path

import pytest

from npuhub.hub import db
from npuhub.hub.courses.course_file import CourseError, course_profile, parse_course
from npuhub.hub.courses.schedule import release_due
from npuhub.hub.courses.service_ops import feedback_pages, release_assignment
from npuhub.hub.courses.store import CourseStore
from tests.db.helpers import table_differs_from_migrations

SOURCE = Path(__file__).resolve().parents[1] / "data" / "course" / "ps1" / "problems.ipynb"


def declare(store, **extra):
    doc = {"id": "ai101", "instructors": ["alice"], "students": ["s1", "s2"],
           "timezone": "Asia/Shanghai",
           "assignments": [
               {"name": "ps1", "release": "2025-03-06T08:00", "due": "2025-03-20T23:59"},
               {"name": "ps2", "release": "2025-03-06T08:00"},
               {"name": "ps3", "due": "2025-03-20T23:59"}], **extra}
    c = parse_course(doc)
    store.upsert(c, course_profile(c), "admin")


@pytest.fixture
def store(db_engine):
    s = CourseStore(db.session_factory(db_engine))
    declare(s)
    for name in ("ps1", "ps3"):
        s.set_source("ai101", name, {"problems.ipynb": SOURCE.read_text()})
    return s


def rows(store, user):
    return {a["name"]: a for a in store.courses_of(user, [])[0]["assignments"]}


def test_model_matches_migration(db_engine):
    assert table_differs_from_migrations(db_engine, "course_assignments") == []


def test_the_release_time_releases_once_and_records_what_failed(store, db_engine,
                                                                fake_clock):
    # 2025-03-05 10:00 UTC: ps1 and ps2 open on the 6th at 08:00 in Shanghai (00:00 UTC)
    assert release_due(store) == []
    with pytest.raises(CourseError, match=r"not released yet \(it opens 2025-03-06T00:00"):
        store.released_for_student("ai101", "ps1")
    assert not rows(store, "s1")["ps1"]["released"]

    fake_clock.set(fake_clock.now.replace(day=6, hour=0, minute=0))
    done = release_due(store)
    assert done == [
        {"course": "ai101", "assignment": "ps1", "released_at": "2025-03-06T00:00:00+00:00"},
        {"course": "ai101", "assignment": "ps2", "error": "course_invalid"}]
    text = store.released_for_student("ai101", "ps1")["problems.ipynb"]
    assert "BEGIN HIDDEN" not in text and "raise NotImplementedError()" in text
    mine = rows(store, "alice")
    assert (mine["ps1"]["released"], mine["ps1"]["released_by"]) == (True, "schedule")
    # ps2 has no sources: the instructors see why, and it is not tried again and again
    assert not mine["ps2"]["released"]
    assert "upload its sources first" in mine["ps2"]["release_error"]["params"]["detail"]
    fake_clock.advance(minutes=5)
    assert release_due(store) == []
    # a restarted service (a new store on the same database) releases nothing twice
    again = CourseStore(db.session_factory(db_engine))
    assert release_due(again) == []
    assert rows(again, "alice")["ps1"]["released_at"] == "2025-03-06T00:00:00+00:00"
    # the schedule never overwrites a release
    assert release_assignment(store, "ai101", "ps1", "schedule", only_once=True) is None
    # new sources: the schedule tries again, and releases
    store.set_source("ai101", "ps2", {"problems.ipynb": SOURCE.read_text()})
    assert [r["assignment"] for r in release_due(store)] == ["ps2"]
    assert rows(store, "alice")["ps2"]["release_error"] is None


def test_an_instructor_releases_before_the_release_time(store, fake_clock):
    r = release_assignment(store, "ai101", "ps1", "alice")
    assert r["released_by"] == "alice"
    assert "problems.ipynb" in store.released_for_student("ai101", "ps1")
    assert rows(store, "s1")["ps1"]["released"] is True
    assert store.submit("ai101", "ps1", "s1", {"problems.ipynb": "{}"})["attempt"] == 1
    fake_clock.set(fake_clock.now.replace(day=7))
    assert [r["assignment"] for r in release_due(store)] == ["ps2"]  # ps2: no sources
    mine = rows(store, "alice")["ps1"]
    assert (mine["released_by"], mine["released_at"]) == ("alice", "2025-03-05T10:00:00+00:00")


def graded(store, fake_clock, who=("s1",)):
    """ps3 released, `who` submit, collected and graded (5 of 7)."""
    release_assignment(store, "ai101", "ps3", "alice")
    for user in who:
        store.submit("ai101", "ps3", user, {"problems.ipynb": "{}"})
    store.collect("ai101", "ps3")
    for sub in store.collected("ai101", "ps3"):
        store.save_grade(sub["id"], {"score": 5.0, "max_score": 7.0, "result": {},
                                     "feedback": {"problems.html": "<p>hidden tests</p>"}})


def test_after_due_holds_feedback_until_the_due_date_in_the_course_zone(store, fake_clock):
    graded(store, fake_clock)
    with pytest.raises(CourseError) as e:
        feedback_pages(store, "ai101", "ps3", "s1")
    assert e.value.code == "feedback_after_due"
    assert e.value.params["when"] == "2025-03-20 23:59 (Asia/Shanghai)"
    assert "after its due date, 2025-03-20 23:59 (Asia/Shanghai)" in str(e.value)
    assert "截止时间 2025-03-20 23:59 (Asia/Shanghai) 之后" in e.value.message("zh_CN")
    ps3 = rows(store, "s1")["ps3"]
    assert (ps3["score"], ps3["feedback"], ps3["graded"]) == (None, False, True)
    assert ps3["feedback_held"] == {"until": "due", "due": "2025-03-20T15:59:00+00:00",
                                    "when": "2025-03-20 23:59 (Asia/Shanghai)"}
    fake_clock.set(fake_clock.now.replace(day=21))
    assert feedback_pages(store, "ai101", "ps3", "s1") == {"problems.html": "<p>hidden tests</p>"}
    ps3 = rows(store, "s1")["ps3"]
    assert (ps3["score"], ps3["feedback"], ps3["feedback_held"]) == (5.0, True, None)


def test_manual_policy_holds_feedback_until_an_instructor_returns_it(store, fake_clock):
    declare(store, feedback="manual")
    with pytest.raises(CourseError) as e:
        store.return_feedback("ai101", "ps3", "alice")  # nothing released yet
    assert e.value.code == "release_first"
    graded(store, fake_clock, who=("s1", "s2"))
    fake_clock.set(fake_clock.now.replace(day=28))  # past the due date: still held
    for user in ("s1", "s2"):
        with pytest.raises(CourseError) as e:
            store.feedback("ai101", "ps3", user)
        assert e.value.code == "feedback_held" and e.value.status == 403
        assert "held until the instructor returns it" in str(e.value)
        assert rows(store, user)["ps3"]["score"] is None
        assert rows(store, user)["ps3"]["feedback_held"] == {"until": "instructor"}
    assert store.courses_of("s1", [])[0]["feedback_policy"] == "manual"
    r = store.return_feedback("ai101", "ps3", "alice")
    assert (r["returned_by"], r["students"]) == ("alice", 2)
    assert store.return_feedback("ai101", "ps3", "bob")["returned_by"] == "alice"  # once
    assert store.feedback("ai101", "ps3", "s2")["grade"]["score"] == 5.0
    assert rows(store, "s2")["ps3"]["score"] == 5.0
    assert rows(store, "alice")["ps3"]["feedback_returned_by"] == "alice"


def test_after_grading_and_an_early_return(store, fake_clock):
    graded(store, fake_clock)
    store.return_feedback("ai101", "ps3", "alice")  # before the due date: at once
    assert store.feedback("ai101", "ps3", "s1")["grade"]["score"] == 5.0
    declare(store, feedback="after_grading")
    store.set_source("ai101", "ps1", {"problems.ipynb": SOURCE.read_text()})
    release_assignment(store, "ai101", "ps1", "alice")
    store.submit("ai101", "ps1", "s2", {"problems.ipynb": "{}"})
    assert rows(store, "s2")["ps1"]["feedback_held"] is None
    with pytest.raises(CourseError) as e:
        store.feedback("ai101", "ps1", "s2")
    assert e.value.code == "no_feedback_yet"
    store.collect("ai101", "ps1")
    sub = store.collected("ai101", "ps1")[0]
    store.save_grade(sub["id"], {"score": 1.0, "max_score": 7.0, "result": {},
                                 "feedback": {}})
    assert store.feedback("ai101", "ps1", "s2")["grade"]["score"] == 1.0
