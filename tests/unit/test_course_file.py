"""The course file: fields checked one by one, refusals that name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

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
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"kind": "Dataset"}, "kind must be Course"),
    ({"students": ["ok", "../etc"]}, "user name"),
    ({"profile": "base"}, "either profile or image"),
    ({"npus_per_student": -1}, "npus_per_student must be between"),
    ({"npus_per_student": 1.5}, "npus_per_student must be a whole number"),
    ({"assignments": [{"name": "../ps1"}]}, "assignment name"),
    ({"assignments": [{"name": "a"}, {"name": "a"}]}, "appears twice"),
    ({"assignments": [{"name": "a", "due": "next friday"}]}, "not an ISO 8601 time"),
    ({"assignments": [{"name": "a", "release": "2026-03-02", "due": "2026-03-01"}]},
     "due is before release"),
    ({"assignments": [{"name": "a", "solutions": "x"}]}, "unknown field(s) solutions"),
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
    ({}, "send"),
])
def test_uploaded_files_are_checked(files, message):
    with pytest.raises(CourseError, match=message):
        check_files(files)


def test_release_hides_solutions_and_hidden_tests():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "data" / "course"
    source = {"problems.ipynb": (root / "ps1" / "problems.ipynb").read_text()}
    released, checksums = release_files(check_files(source, source=True))
    text = released["problems.ipynb"]
    assert "hidden-squares" not in text and "BEGIN SOLUTION" not in text
    assert "raise NotImplementedError()" in text
    assert set(checksums["problems.ipynb"]) == {"setup", "test_squares", "test_hypotenuse"}
