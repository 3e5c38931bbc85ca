"""Tamper evidence of the autograde runner, in-process with the venv's ipykernel (the
same runner and guard in the grader's container, with the kernel as another user:
tests/integration/test_grader.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nbformat
import pytest

from npuhub.extensions.autograde import Guard, execute
from npuhub.extensions.autograde_guard import sign
from npuhub.hub.courses.assignment import release
from npuhub.hub.courses.grading import prepare_for_grading, score

COURSE = Path(__file__).resolve().parents[1] / "data" / "course"
RIGHT = {"squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
         "hypotenuse": "def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)"}
WRONG = {"squares": "def squares(n):\n    return []",
         "hypotenuse": "def hypotenuse(a, b):\n    return 5"}
TAMPERING = {
    "traceback": "get_ipython().showtraceback = lambda *a, **k: None",
    "transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
    "ast": ("import ast\nclass Drop(ast.NodeTransformer):\n"
            "    def visit_Assert(self, node):\n        return None\n"
            "get_ipython().ast_transformers.append(Drop())"),
    "assertion": ("import builtins\nget_ipython().set_custom_exc((AssertionError,), "
                  "lambda *a, **k: None)\nbuiltins.AssertionError = type('AssertionError', "
                  "(Warning,), {})"),
    "pre_run_cell": ("get_ipython().events.register('pre_run_cell', "
                     "lambda info: globals().update(squares=lambda n: [1, 4, 9][:n]))"),
    "stderr": "import sys, io\nsys.stderr = io.StringIO()",
    "forged": "print('NPUHUB-AUTOGRADE-RESULT {\"cells\": []}')",
    "hidden": ("try:\n    open('/autograde/private/in.ipynb').read()\n"
               "except OSError as e:\n    print('hidden', type(e).__name__)"),
    "gc": "import gc\nlen(gc.get_objects())",
}


def graded(answers: dict):
    src = nbformat.read(str(COURSE / "ps1" / "problems.ipynb"), as_version=4)
    student, _ = release(src)
    for cell in student.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.source = answers.get(gid, cell.source)
    nb = prepare_for_grading(student, src)
    assert asyncio.run(execute(nb, timeout=20, cwd=str(COURSE))) == "ok"
    return nb, score(nb)


def test_an_honest_submission_is_not_flagged():
    nb, result = graded(RIGHT)
    assert result["needs_review"] is False
    assert nb.metadata["npuhub"]["autograde"]["review"] == []
    assert [(c["grade_id"], c["points"]) for c in result["cells"]][:2] == [
        ("test_squares", 2.0), ("test_hypotenuse", 3.0)]


@pytest.mark.parametrize("technique", sorted(TAMPERING))
def test_tampering_is_flagged_and_earns_no_automatic_points(technique):
    answers = dict(WRONG, squares=TAMPERING[technique] + "\n" + WRONG["squares"])
    nb, result = graded(answers)
    assert result["needs_review"] is True
    flagged = [c["grade_id"] for c in result["cells"] if c["review"]]
    assert flagged == ["test_squares", "test_hypotenuse", "answer", "explain"], result
    assert result["score"] == 0.0


def test_tampering_after_a_test_leaves_that_test_its_points():
    answers = dict(RIGHT, hypotenuse=TAMPERING["traceback"] + "\n" + WRONG["hypotenuse"])
    _, result = graded(answers)
    points = {c["grade_id"]: (c["points"], bool(c["review"])) for c in result["cells"]}
    assert points["test_squares"] == (2.0, False)
    assert points["test_hypotenuse"] == (0.0, True)
    assert "shell.showtraceback replaced" in result["cells"][1]["review"]


def test_guard_reports_are_signed_and_forgeries_are_alarms():
    guard = Guard()
    try:
        os.write(guard.report_fd, sign(guard.key, "check", "n1", []))
        os.write(guard.report_fd, sign(b"not the key", "check", "n2", []))
        guard.poll()
        assert guard.checks == {"n1": []}
        assert guard.alarms == ["a forged report on the guard's channel"]
        guard.launched()  # the last writer closes: the channel is seen closed
        guard.poll()
        assert guard.alarms[-1] == "the guard's channel was closed by the kernel"
    finally:
        guard.close()
