"""Grading: restore a submission against its source, score, tamper record, feedback, CSV.

Executions here use the autograde runner in-process with the venv's ipykernel (the
container around it is tested in tests/integration/test_grader.py)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from npuhub.extensions.autograde import execute
from npuhub.hub.courses.assignment import release
from npuhub.hub.courses.feedback import feedback_html
from npuhub.hub.courses.grader import container_config, merge_outputs
from npuhub.hub.courses.grades import grades_csv
from npuhub.hub.courses.grading import prepare_for_grading, score, tampered

COURSE = Path(__file__).resolve().parents[1] / "data" / "course"
ANSWERS = {
    "squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
    "hypotenuse": "def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)",
    "answer": "ANSWER = 42\nassert ANSWER == 42",
    "explain": "Because.",
}


def source():
    return nbformat.read(str(COURSE / "ps1" / "problems.ipynb"), as_version=4)


def gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def cell_of(nb, grade_id):
    return next(c for c in nb.cells if gid(c) == grade_id)


def submit(**answers):
    student, _ = release(source())
    for cell in student.cells:
        if gid(cell) in answers:
            cell.source = answers[gid(cell)]
    return student


def order(nb):
    return [gid(c) or c.source[:12] for c in nb.cells]


SOURCE_ORDER = ["# Problem se", "setup", "squares", "test_squares", "hypotenuse",
                "test_hypotenuse", "answer", "explain"]


def test_prepared_notebook_has_answers_from_the_student_and_tests_from_the_source():
    nb = prepare_for_grading(submit(**ANSWERS), source())
    assert order(nb) == SOURCE_ORDER
    assert cell_of(nb, "squares").source == ANSWERS["squares"]
    assert cell_of(nb, "test_squares").source == cell_of(source(), "test_squares").source
    assert "hidden-squares" in cell_of(nb, "test_squares").source
    assert "hidden-hypotenuse" in cell_of(nb, "test_hypotenuse").source
    assert nb.metadata.kernelspec.name == "python3"
    nbformat.validate(nb)


def test_edited_test_cell_and_metadata_are_restored_and_recorded():
    sub = submit(**ANSWERS)
    cell_of(sub, "test_hypotenuse").source = "pass"
    cell_of(sub, "squares").metadata.nbgrader.update(points=100, grade=True)
    sub.metadata.kernelspec = {"name": "evil", "display_name": "evil"}
    nb = prepare_for_grading(sub, source())
    assert cell_of(nb, "test_hypotenuse").source == cell_of(source(), "test_hypotenuse").source
    restored = cell_of(nb, "squares").metadata.nbgrader
    assert restored == cell_of(release(source())[0], "squares").metadata.nbgrader
    assert restored.checksum  # the released stub's: an unchanged answer scores 0
    assert nb.metadata.kernelspec.name == "python3"
    _, checksums = release(source())
    assert tampered(sub, checksums) == ["test_hypotenuse"]
    assert tampered(submit(**ANSWERS), checksums) == []


def test_deleted_and_moved_cells_come_back_at_their_source_position():
    sub = submit(**ANSWERS)
    helper = new_code_cell("def helper():\n    return 1")
    cells = {gid(c) or "intro": c for c in sub.cells}
    sub.cells = [cells["intro"], cells["squares"], helper, cells["test_hypotenuse"],
                 cells["hypotenuse"], cells["explain"]]  # setup, 2 tests, answer deleted
    nb = prepare_for_grading(sub, source())
    assert order(nb) == ["# Problem se", "setup", "squares", "def helper()", "test_squares",
                         "hypotenuse", "test_hypotenuse", "answer", "explain"]
    assert cell_of(nb, "answer").source.startswith("# YOUR CODE HERE\nraise NotImplementedError()")
    _, checksums = release(source())
    assert tampered(sub, checksums) == ["setup", "test_squares"]
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_copied_or_invented_graded_cells_are_not_graded():
    sub = submit(**ANSWERS)
    fake = new_code_cell("pass", metadata={"nbgrader": {"grade_id": "bonus", "grade": True,
                                                         "points": 50, "solution": False}})
    copied = copy.deepcopy(cell_of(sub, "test_squares"))
    sub.cells += [fake, copied]
    nb = prepare_for_grading(sub, source())
    assert [gid(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")] == [
        "test_squares", "test_hypotenuse", "answer", "explain"]
    assert order(nb)[-2:] == ["pass", "assert squar"]


def executed(nb, **kw):
    nb = copy.deepcopy(nb)
    assert asyncio.run(execute(nb, timeout=20, cwd=str(COURSE), **kw)) == "ok"
    return nb


def test_score_of_a_correct_and_a_wrong_submission():
    right = score(executed(prepare_for_grading(submit(**ANSWERS), source())))
    # as nbgrader: an answer that is also graded needs a person, even when it runs
    assert right == {
        "cells": [
            {"grade_id": "test_squares", "points": 2.0, "max_points": 2.0, "error": None,
             "manual": False, "review": None},
            {"grade_id": "test_hypotenuse", "points": 3.0, "max_points": 3.0, "error": None,
             "manual": False, "review": None},
            {"grade_id": "answer", "points": 0.0, "max_points": 1.0, "error": None,
             "manual": True, "review": None},
            {"grade_id": "explain", "points": 0.0, "max_points": 1.0, "error": None,
             "manual": True, "review": None},
        ],
        "score": 5.0, "max_score": 7.0, "needs_manual_grading": True, "needs_review": False,
        "status": "ok"}

    # a hidden test catches what the visible ones don't; the untouched answer scores 0
    wrong = dict(ANSWERS, hypotenuse="def hypotenuse(a, b):\n    return 5.0")
    del wrong["answer"]
    result = score(executed(prepare_for_grading(submit(**wrong), source())))
    assert [(c["grade_id"], c["points"], c["manual"]) for c in result["cells"]] == [
        ("test_squares", 2.0, False), ("test_hypotenuse", 0.0, False),
        ("answer", 0.0, False), ("explain", 0.0, True)]
    assert result["cells"][1]["error"] == "AssertionError:"
    assert result["cells"][2]["error"] == "unanswered"
    assert result["score"] == 2.0 < right["score"]


def test_score_of_an_unexecuted_or_timed_out_notebook():
    nb = prepare_for_grading(submit(**ANSWERS), source())
    nb.metadata["npuhub"] = {"autograde": {"status": "timeout"}}
    cell_of(nb, "test_squares").outputs = [new_output("stream", name="stdout", text="ok")]
    cell_of(nb, "test_squares").execution_count = 3
    result = score(nb)
    assert [(c["points"], c["error"]) for c in result["cells"]] == [
        (2.0, None), (0.0, "not executed (timeout)"), (0.0, None), (0.0, None)]
    assert (result["score"], result["status"]) == (2.0, "timeout")


def test_feedback_html_has_the_summary_and_the_tests():
    nb = executed(prepare_for_grading(submit(**dict(ANSWERS, squares="squares = None")),
                                      source()))
    result = score(nb)
    html = feedback_html(nb, result)
    assert html.startswith("<!DOCTYPE html>")
    assert "Score: 3 / 7" in html
    assert "test_squares" in html and "TypeError" in html
    assert "hidden-hypotenuse" in html  # hidden tests are shown once graded
    assert "needs manual grading" in html


def test_feedback_html_escapes_student_text():
    nb = prepare_for_grading(submit(**dict(ANSWERS, explain="<script>alert(1)</script>")),
                             source())
    nb.cells.append(new_markdown_cell("# Title\n\n<img src=x onerror=alert(1)> [a](javascript:x)"))
    cell_of(nb, "setup").outputs = [new_output("display_data", data={
        "text/html": "<b>bold</b><script>alert(2)</script>", "application/javascript": "x()"})]
    html = feedback_html(nb, score(nb))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert "<script>alert(2)" not in html and "<b>bold</b>" in html
    assert "onerror" not in html and "javascript:x" not in html
    assert 'id="Title">Title' in html and "&lt;p&gt;" not in html and "&lt;h1" not in html


def test_grades_csv_columns_and_order():
    rows = [
        {"student": "bob", "assignment": "ps2", "score": 2.0, "max_score": 2,
         "submitted_at": "2026-03-02T10:00:00Z", "late": False, "attempt": 1},
        {"student": "alice", "assignment": "ps2", "score": 1.5, "max_score": 2,
         "submitted_at": None, "late": True, "attempt": 2, "extra": "ignored"},
        {"student": "alice", "assignment": "ps1", "score": 7, "max_score": 7,
         "submitted_at": "2026-03-01T09:00:00Z", "late": False, "attempt": 1,
         "needs_review": True},
    ]
    rows[1].update(needs_manual_grading=True, days_late=2, late_penalty=20.0)
    header = ("student,assignment,score,max_score,submitted_at,late,attempt,needs_review,"
              "needs_manual_grading,days_late,late_penalty\r\n")
    assert grades_csv(rows) == (
        header + "alice,ps1,7,7,2026-03-01T09:00:00Z,false,1,true,,,\r\n"
        "alice,ps2,1.5,2,,true,2,,true,2,20\r\n"
        "bob,ps2,2,2,2026-03-02T10:00:00Z,false,1,,,,\r\n")
    assert grades_csv([]) == header


def test_grades_csv_neutralises_spreadsheet_formulas():
    csv_text = grades_csv([{"student": "=cmd|' /C calc'!A0", "assignment": "ps1", "score": 0,
                            "max_score": 1, "submitted_at": "", "late": False, "attempt": 1}])
    assert "\r\n'=cmd" in csv_text


@pytest.mark.parametrize("status", ["crashed", "timeout"])
def test_feedback_says_why_cells_did_not_run(status):
    nb = prepare_for_grading(submit(**ANSWERS), source())
    nb.metadata["npuhub"] = {"autograde": {"status": status}}
    assert f"not executed ({status})" in feedback_html(nb, score(nb))


def test_grader_container_is_isolated():
    config = container_config(image="img", timeout=10, total_timeout=40, memory="512m",
                              cpus=1.0, pids=128, name="n", labels={"course": "c"})
    assert config["command"] == [
        "python", "-m", "npuhub.extensions.autograde", "/autograde/private/in.ipynb", "-",
        "--timeout", "10", "--total-timeout", "40.0", "--files", "/autograde/files",
        "--secret-file", "/autograde/private/secret", "--kernel-user", "1000:100",
        "--kernel-home", "/home/jovyan"]
    # the runner is root with only what it needs to start and interrupt the kernel as 1000
    expected = {
        "network_mode": "none", "user": "0:0", "environment": {}, "cap_drop": ["ALL"],
        "cap_add": ["SETUID", "SETGID", "KILL"],
        "security_opt": ["no-new-privileges"], "read_only": True, "devices": [],
        "mem_limit": "512m", "memswap_limit": "512m", "nano_cpus": 1_000_000_000,
        "pids_limit": 128, "labels": {"org.npuhub.role": "autograde", "course": "c"},
    }
    assert {k: config[k] for k in expected} == expected
    assert set(config["tmpfs"]) == {"/tmp", "/home/jovyan"}
    assert config["log_config"]["Config"] == {"max-size": "32m", "max-file": "1"}
    assert "volumes" not in config and "privileged" not in config


def test_outputs_come_back_only_onto_matching_cells():
    prepared = prepare_for_grading(submit(**ANSWERS), source())
    forged = copy.deepcopy(prepared)
    for cell in forged.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [new_output("stream", text="ok")], 1
    cell_of(forged, "test_squares").source = "pass"
    cell_of(forged, "test_hypotenuse").metadata.nbgrader.points = 1000
    nb = merge_outputs(prepared, forged)
    assert cell_of(nb, "test_squares").execution_count is None
    assert cell_of(nb, "test_hypotenuse").metadata.nbgrader.points == 3
    assert score(nb)["score"] == 3.0  # test_squares not executed: 0 of 2; answer: manual
