"""The course file: fields checked one by one, refusals that name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from npuhub.extensions.filecodec import decode, encode
from npuhub.hub.courses.course_file import CourseError, course_profile, parse_course
from npuhub.hub.courses.service_ops import check_files, release_files

DOC = """
kind: Course
id: ai101
title: Introduction to AI
term: 2026 spring
instructors: [alice]
students: [s2, s1, s3, s1]
image: npuhub/base:latest
npus_per_student: 1
npu_hours_per_student: 10
datasets: [mnist]
assignments:
  - {name: ps1, source: ps1, release: 2026-03-01T00:00:00Z, due: "2026-03-08T23:59:00+08:00"}
  - {name: ps2, source: ps2}
"""


def course(**changes):
    doc = yaml.safe_load(DOC)
    doc.update(changes)
    return doc


def test_parse_normalizes():
    c = parse_course(course())
    assert c["id"] == "ai101" and c["students"] == ["s1", "s2", "s3"]
    assert c["students_group"] is None and c["instructors"] == ["alice"]
    ps1, ps2 = c["assignments"]
    assert ps1["release"] == datetime(2026, 3, 1, tzinfo=UTC)
    assert ps1["due"] == datetime(2026, 3, 8, 15, 59, tzinfo=UTC)
    assert ps2["release"] is None and ps2["due"] is None
    assert c["autograde"] == {"timeout": 60, "memory": "512m", "cpus": 1.0}
    assert c["npu_hours_per_student"] == 10.0


def test_students_as_a_group_and_profile():
    c = parse_course(course(students="cs-2026", image=None, profile="base"))
    assert c["students"] == [] and c["students_group"] == "cs-2026"
    p = course_profile(c, {"slug": "base", "image": "npuhub/torch:latest",
                           "device_type": "Ascend910B"})
    assert p == {"slug": "course-ai101", "display_name": "Introduction to AI",
                 "description": "Course ai101, 2026 spring", "image": "npuhub/torch:latest",
                 "npus": [0, 1], "device_type": "Ascend910B",
                 "groups": ["course-ai101-students", "course-ai101-instructors"]}


@pytest.mark.parametrize("changes, message", [
    ({"id": "AI 101"}, "course id"),
    ({"id": "../x"}, "course id"),
    ({"colour": "red"}, "unknown field 'colour'; allowed: kind, id, title"),
    ({"kind": "Dataset"}, "kind: input should be 'Course'"),
    ({"students": ["ok", "../etc"]}, "user name"),
    ({"profile": "base"}, "either profile or image"),
    ({"npus_per_student": -1}, "npus_per_student: input should be greater than or equal to 0"),
    ({"npus_per_student": 1.5}, "npus_per_student: input should be a valid integer"),
    ({"assignments": [{"name": "../ps1"}]}, "assignment name"),
    ({"assignments": [{"name": "a"}, {"name": "a"}]}, "appears twice"),
    ({"assignments": [{"name": "a", "due": "next friday"}]}, "not an ISO 8601 time"),
    ({"assignments": [{"name": "a", "release": "2026-03-02", "due": "2026-03-01"}]},
     "due is before release"),
    ({"assignments": [{"name": "a", "solutions": "x"}]}, "unknown field 'assignments.0].solutions'"),
    ({"autograde": {"memory": "lots"}}, "autograde.memory"),
])
def test_refusals_name_the_field(changes, message):
    with pytest.raises(CourseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_course(course(**changes))


def test_api_may_not_name_host_folders():
    with pytest.raises(CourseError, match="upload the notebooks"):
        parse_course(course(), allow_source=False)
    parse_course(course(assignments=[{"name": "ps1"}]), allow_source=False)


NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.mark.parametrize("files, message", [
    ({"../x.ipynb": NB}, "not allowed"),
    ({"/etc/passwd.txt": "x"}, "not allowed"),
    ({".hidden.py": "x"}, "not allowed"),
    ({"a.bin": "x"}, "only notebooks"),
    ({"a.ipynb": "not json"}, "not a valid Jupyter notebook"),
    ({"big.txt": "x" * (1024 * 1024 + 1)}, "too large"),
    ({"pic.png": "\0base64:not base64!"}, "pic.png: broken base64"),
    ({"a.ipynb": "\0base64:AAAA"}, "not a valid Jupyter notebook"),
    ({"big.npz": encode(b"\0" * (10 * 1024 * 1024 + 1))}, "big.npz: too large"),
    ({}, "send"),
])
def test_uploaded_files_are_checked(files, message):
    with pytest.raises(CourseError, match=message):
        check_files(files)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def test_binary_files_travel_base64_encoded_within_the_caps(tmp_path, monkeypatch):
    from npuhub.extensions import courses

    folder = tmp_path / "ps1"
    folder.mkdir()
    (folder / "pic.png").write_bytes(PNG)
    (folder / "data.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    (folder / "notes.txt").write_text("plain text\n")
    files = courses.read_files(folder)
    assert files["notes.txt"] == "plain text\n"
    assert files["pic.png"].startswith("\0base64:")
    checked = check_files({**files, "a.ipynb": NB})
    released, _ = release_files({**checked, "a.ipynb": NB})
    out = tmp_path / "fetched"
    written, _ = courses.write_new_files(released, out)
    assert sorted(written) == ["a.ipynb", "data.npz", "notes.txt", "pic.png"]
    assert (out / "pic.png").read_bytes() == PNG
    assert (out / "data.npz").read_bytes() == (folder / "data.npz").read_bytes()
    assert decode(encode(PNG)) == PNG and encode(b"text") == "text"


def test_release_hides_solutions_and_hidden_tests():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "data" / "course"
    source = {"problems.ipynb": (root / "ps1" / "problems.ipynb").read_text()}
    released, checksums = release_files(check_files(source, source=True))
    text = released["problems.ipynb"]
    assert "hidden-squares" not in text and "BEGIN SOLUTION" not in text
    assert "raise NotImplementedError()" in text
    assert set(checksums["problems.ipynb"]) == {"setup", "test_squares", "test_hypotenuse"}


# ---------------------------------------------------------------- the store (SQLite)


@pytest.fixture
def store(tmp_path, monkeypatch):
    from npuhub.hub import db
    from npuhub.hub.courses.store import CourseStore

    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    db.upgrade(url)
    s = CourseStore(db.session_factory(db.make_engine(url)))
    c = parse_course(course(assignments=[
        {"name": "ps1", "release": "2026-03-01T00:00:00Z", "due": "2026-03-08T00:00:00Z"}]))
    s.upsert(c, course_profile(c), "admin")
    return s


def at(monkeypatch, when: str):
    from npuhub.hub import clock

    monkeypatch.setattr(clock, "utcnow", lambda: datetime.fromisoformat(when))


def test_store_cycle(store, monkeypatch):
    nb = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    assert store.role("ai101", "s1", []) == "student"
    assert store.role("ai101", "alice", []) == "instructor"
    assert store.role("ai101", "eve", ["course-ai101-students"]) == "student"
    assert store.role("ai101", "eve", []) is None
    assert store.role("ai101", "root", [], admin=True) == "instructor"
    store.set_source("ai101", "ps1", {"a.ipynb": nb})
    at(monkeypatch, "2026-02-01T00:00:00+00:00")
    with pytest.raises(CourseError, match=r"not released yet \(it opens 2026-03-01"):
        store.released_for_student("ai101", "ps1")
    with pytest.raises(CourseError, match="not released yet"):
        store.submit("ai101", "ps1", "s1", {"a.ipynb": "0"})
    # the instructor releases before the release time: students fetch it at once
    store.set_released("ai101", "ps1", {"a.ipynb": nb}, {})
    assert store.released_for_student("ai101", "ps1") == {"a.ipynb": nb}
    at(monkeypatch, "2026-03-02T00:00:00+00:00")
    assert store.released_for_student("ai101", "ps1") == {"a.ipynb": nb}
    assert store.submit("ai101", "ps1", "s1", {"a.ipynb": "1"})["attempt"] == 1
    at(monkeypatch, "2026-03-09T00:00:00+00:00")
    late = store.submit("ai101", "ps1", "s1", {"a.ipynb": "2"})
    assert (late["attempt"], late["late"]) == (2, True)
    store.submit("ai101", "ps1", "s2", {"a.ipynb": "3"})
    assert store.collect("ai101", "ps1") == 2
    collected = {x["user"]: x for x in store.collected("ai101", "ps1")}
    assert collected["s1"]["files"] == {"a.ipynb": "2"} and collected["s1"]["attempt"] == 2
    store.save_grade(collected["s1"]["id"], {"score": 1.0, "max_score": 2.0, "result": {},
                                             "feedback": {"a.html": "<p>ok</p>"}})
    from npuhub.hub.courses.service_ops import feedback_pages

    assert feedback_pages(store, "ai101", "ps1", "s1") == {"a.html": "<p>ok</p>"}
    with pytest.raises(CourseError, match="No feedback yet"):
        store.feedback("ai101", "ps1", "s2")
    assert store.grades("ai101") == [{
        "student": "s1", "assignment": "ps1", "score": 1.0, "max_score": 2.0,
        "submitted_at": "2026-03-09T00:00:00+00:00", "late": True, "attempt": 2,
        "needs_review": False, "needs_manual_grading": False, "raw_score": 1.0,
        "days_late": 1, "late_penalty": 0.0}]
    mine = store.courses_of("s1", [])[0]
    assert mine["role"] == "student" and mine["assignments"][0]["score"] == 1.0
    assert "counts" not in mine["assignments"][0]  # students see their own state only
    # the instructor's row counts one per student, by their latest attempt
    counts = store.courses_of("alice", [])[0]["assignments"][0]["counts"]
    assert counts == {"submitted": 2, "collected": 2, "graded": 1, "late": 2, "newer": 0,
                      "last_graded": "2026-03-09T00:00:00+00:00"}
    store.submit("ai101", "ps1", "s1", {"a.ipynb": "4"})  # a newer attempt, not graded
    counts = store.courses_of("alice", [])[0]["assignments"][0]["counts"]
    assert counts == {"submitted": 2, "collected": 1, "graded": 1, "late": 2, "newer": 1,
                      "last_graded": "2026-03-09T00:00:00+00:00"}
    assert store.courses_of("eve", []) == []
    assert [p["slug"] for p in store.profiles()] == ["course-ai101"]


def test_feedback_waits_for_the_due_date(store, monkeypatch):
    nb = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    store.set_released("ai101", "ps1", {"a.ipynb": nb}, {})
    at(monkeypatch, "2026-03-02T00:00:00+00:00")
    store.submit("ai101", "ps1", "s1", {"a.ipynb": nb})
    store.collect("ai101", "ps1")
    sub = store.collected("ai101", "ps1")[0]
    store.save_grade(sub["id"], {"score": 0.0, "max_score": 1.0, "result": {}, "feedback": {}})
    with pytest.raises(CourseError, match="after its due date"):
        store.feedback("ai101", "ps1", "s1")
    assert store.courses_of("s1", [])[0]["assignments"][0]["score"] is None
