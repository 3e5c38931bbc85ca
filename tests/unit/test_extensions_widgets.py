"""View-models of the widgets (rows, labels, what a click does), and the DatasetBrowser
widget itself without a browser; the service is `client.request` patched in memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from npuhub.extensions import client
from npuhub.extensions.client import NPUHubError
from npuhub.extensions.course_panel import student_rows
from npuhub.extensions.dataset_browser import (
    DatasetBrowser,
    DatasetBrowserModel,
    button_label,
    dataset_row,
    matches,
)
from npuhub.extensions.instructor_panel import action_message, csv_data_url, grade_rows
from npuhub.extensions.job_panel import JobPanelModel, find_sources, form_kwargs, job_row

DATASETS = [
    {"name": "mnist", "title": "MNIST digits", "description": "handwritten digits",
     "size": 11 * 2**20, "license": "CC-BY-SA", "version": "1", "mounted": False},
    {"name": "imagenet", "title": "ImageNet 1k", "description": "natural images",
     "size": 150 * 2**30, "license": "custom", "version": "2012", "mounted": True},
    {"name": "secret", "title": "Secret", "description": "", "size": None, "mounted": False},
]  # fmt: skip


class DatasetService:
    """Mount state kept like the service keeps it; 'secret' is refused."""

    def __init__(self):
        self.items = [dict(d) for d in DATASETS]

    def __call__(self, method, resource, **kwargs):
        if resource == "/datasets":
            return [dict(d) for d in self.items]
        name = resource.split("/")[2]
        if name == "secret":
            raise NPUHubError("Dataset 'secret' is not shared with you", status=403)
        for d in self.items:
            if d["name"] == name:
                d["mounted"] = method == "POST"
        return {"name": name, "mounted": method == "POST"}


@pytest.fixture
def service(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = DatasetService()
    monkeypatch.setattr(client, "request", s)
    return s


def test_dataset_rows_and_labels():
    row = dataset_row(DATASETS[0])
    assert row["size"] == "11.0 MiB" and row["label"] == "Mount" and not row["mounted"]
    assert dataset_row(DATASETS[1])["label"] == "Unmount"
    assert dataset_row(DATASETS[2])["size"] == "?"
    assert button_label(True) == "Unmount" and button_label(False) == "Mount"


@pytest.mark.parametrize(
    ("query", "names"),
    [("", ["mnist", "imagenet", "secret"]), ("DIGITS", ["mnist"]),
     ("natural images", ["imagenet"]), ("images digits", [])],
)  # fmt: skip
def test_search(query, names):
    assert [d["name"] for d in DATASETS if matches(d, query)] == names


def test_toggle_follows_the_real_state(service):
    m = DatasetBrowserModel()
    m.refresh()
    assert m.toggle("mnist").startswith("Mounted mnist at ")
    assert [r["label"] for r in m.rows("mnist")] == ["Unmount"]
    assert m.toggle("mnist") == "Unmounted mnist."
    assert [r["label"] for r in m.rows("mnist")] == ["Mount"]
    with pytest.raises(NPUHubError, match="not shared"):
        m.toggle("secret")
    assert [r["label"] for r in m.rows("secret")] == ["Mount"]


def _labels(browser):
    return [row.children[1].description for row in browser.list_box.children]


def test_dataset_browser_widget(service):
    b = DatasetBrowser()
    assert _labels(b) == ["Mount", "Unmount", "Mount"]
    b.list_box.children[0].children[1].click()  # Mount mnist
    assert _labels(b) == ["Unmount", "Unmount", "Mount"]
    assert "Mounted mnist" in b.status.value
    b.click("secret")  # refused: shown, not raised; label unchanged
    assert "not shared with you" in b.status.value and _labels(b)[2] == "Mount"
    b.search.value = "imagenet"
    assert _labels(b) == ["Unmount"]


def test_dataset_browser_shows_a_missing_service(monkeypatch):
    monkeypatch.delenv("NPUHUB_API_URL", raising=False)
    b = DatasetBrowser()
    assert "not running inside an npuhub server" in b.status.value


# --- jobs -----------------------------------------------------------------------------


def test_job_row():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    job = {"id": 7, "name": "t", "state": "running", "npus": 2, "source": "a.ipynb",
           "started": "2025-01-01T11:58:00Z"}  # fmt: skip
    row = job_row(job, now)
    assert (row["id"], row["elapsed"], row["active"]) == ("7", "0:02:00", True)
    assert row["output"].endswith("lab/tree/jobs/7")
    done = job_row({**job, "state": "failed", "reason": "exit 1",
                    "finished": "2025-01-01T11:59:00Z"}, now)  # fmt: skip
    assert (done["state"], done["elapsed"], done["active"]) == ("failed (exit 1)", "0:01:00", False)
    assert job_row({"id": 8, "state": "queued"}, now)["output"] == ""


def test_form_kwargs():
    assert form_kwargs("a.ipynb", 1, " 1:00:00 ", "lr=0.1\nbs=32", "") == {
        "source": "a.ipynb", "npus": 1, "time_limit": "1:00:00",
        "parameters": "lr=0.1\nbs=32", "name": None,
    }  # fmt: skip
    assert form_kwargs("a.py", 0, "2h", "msg=hello, world", "")["parameters"] == "msg=hello, world"
    assert form_kwargs("a.py", 0, "", "  ", "")["parameters"] is None
    with pytest.raises(NPUHubError, match="choose"):
        form_kwargs("", 0, "", "", "")


def test_find_sources(tmp_path):
    for rel in ("train.ipynb", "lib/util.py", "notes.md", ".hidden/x.py", "datasets/mnist/x.py",
                "jobs/3/out.ipynb", "lib/.ipynb_checkpoints/util-checkpoint.py",
                "a/b/c/d/e/deep.py"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert find_sources(tmp_path) == ["lib/util.py", "train.ipynb"]


def test_job_model_follows_a_log(monkeypatch):
    log = "epoch 1\nepoch 2\n"
    state = {"state": "running"}

    def request(method, resource, params=None, **kw):
        if resource == "/jobs":
            return [{"id": "7", **state}]
        off = params["offset"]
        return {"text": log[off:], "offset": len(log), "done": state["state"] != "running"}

    monkeypatch.setattr(client, "request", request)
    m = JobPanelModel()
    m.refresh()
    m.follow("7")
    assert m.log == log and not m.log_done and m.active()
    state["state"] = "succeeded"
    m.refresh()
    assert m.poll_log() == "" and m.log_done and not m.active()


# --- courses --------------------------------------------------------------------------


def test_student_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "courses" / "ai101" / "hw1").mkdir(parents=True)
    items = [
        {"id": "ai101", "title": "AI 101", "role": "student", "assignments": [
            {"name": "hw1", "due": "2025-03-01", "released": True, "submitted_at": "t",
             "late": True, "score": None, "feedback": False},
            {"name": "hw2", "released": True},
            {"name": "hw3", "released": False},
            {"name": "hw4", "released": True, "submitted_at": "t", "score": None,
             "feedback": False, "feedback_held": {"until": "instructor"}},
            {"name": "hw5", "released": True, "submitted_at": "t", "score": None,
             "feedback_held": {"until": "due", "due": "2026-09-15T15:59:00+00:00",
                               "when": "2026-09-15 23:59 (Asia/Shanghai)"}},
            {"name": "hw0", "released": True, "submitted_at": "t", "score": 8, "max_score": 10,
             "feedback": True}]},
        {"id": "ta", "role": "instructor", "assignments": [{"name": "x", "released": True}]},
    ]  # fmt: skip
    rows = {r["assignment"]: r for r in student_rows(items)}
    assert sorted(rows) == ["hw0", "hw1", "hw2", "hw3", "hw4", "hw5"]
    assert rows["hw1"]["state"] == "submitted (late)" and rows["hw1"]["can_submit"]
    assert rows["hw1"]["fetch_label"] == "Fetch again"
    assert rows["hw2"]["can_fetch"] and not rows["hw2"]["can_submit"]
    assert rows["hw3"]["state"] == "not released" and not rows["hw3"]["can_fetch"]
    assert rows["hw0"]["state"] == "graded 8/10" and rows["hw0"]["can_feedback"]
    # held feedback is a state: no score, no button, and until when
    assert rows["hw4"]["state"] == "submitted, feedback held until the instructor returns it"
    assert rows["hw5"]["state"] == (
        "submitted, feedback after the due date 2026-09-15 23:59 (Asia/Shanghai)")
    assert not rows["hw4"]["can_feedback"] and not rows["hw5"]["can_feedback"]


def test_instructor_view_model():
    grades = [{"student": "zoe", "assignment": "hw1", "score": 9, "max_score": 10, "late": True},
              {"student": "al", "assignment": "hw1", "score": 7, "max_score": 10}]  # fmt: skip
    assert grade_rows(grades) == [["al", "hw1", 7, 10, None, ""],
                                  ["zoe", "hw1", 9, 10, None, "late"]]  # fmt: skip
    assert csv_data_url("a,b\n") == "data:text/csv;base64,YSxiCg=="
    assert action_message("collect", "c", "a", {"submissions": 3}) == (
        "Collected 3 submission(s) of c/a"
    )


def test_panels_build_and_show_refusals(monkeypatch, tmp_path):
    from npuhub.extensions import CoursePanel, InstructorPanel, JobPanel

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "train.ipynb").write_text("{}")
    courses_list = [{"id": "ai101", "title": "AI 101", "role": "instructor",
                     "assignments": [{"name": "hw1"}]}]  # fmt: skip

    def request(method, resource, **kw):
        if resource in ("/jobs", "/courses") and method == "GET":
            return courses_list if resource == "/courses" else []
        if resource == "/jobs":  # the service's refusal of what was typed
            assert kw["json"]["parameters"] == "lr"
            raise NPUHubError("parameters: line 1 is not name=value (one per line, e.g. "
                              "lr=0.01): 'lr'", status=400)
        raise NPUHubError("Only instructors of ai101 may release", status=403)

    monkeypatch.setattr(client, "request", request)
    jp = JobPanel()
    assert jp.source.options == ("train.ipynb",)
    jp.params.value = "lr"
    jp.submit_button.click()
    assert "name=value" in jp.status.value
    cp = CoursePanel()
    assert "no assignments" in cp.list_box.children[0].value
    ip = InstructorPanel()
    assert ip.course.value == "ai101" and ip.assignment.options == ("hw1",)
    ip.buttons["release"].click()
    assert "Only instructors of ai101 may release" in ip.status.value


SHEET = {"student": "s2", "assignment": "hw1", "score": 3.5, "max_score": 7, "auto_score": 5,
         "manual_score": 2, "needs_manual_grading": False,
         "late": {"late": True, "days": 400, "percent": 50.0},
         "notebooks": [{"notebook": "ps1.ipynb", "cells": [
             {"grade_id": "explain", "max_points": 1, "answer": "<b>Because</b>",
              "mark_scheme": "1 point: says why", "solution": None, "points": None,
              "comment": "", "review": None}]}]}


def test_instructor_grades_by_hand_in_the_panel(monkeypatch, tmp_path):
    from npuhub.extensions import InstructorPanel
    from npuhub.extensions.instructor_panel import cell_html, manual_summary

    assert manual_summary(SHEET) == (
        "s2: 3.5 / 7 (automatic 5, by hand 2, 400 day(s) late: -50%)")
    assert "&lt;b&gt;Because" in cell_html({**SHEET["notebooks"][0]["cells"][0],
                                             "notebook": "ps1.ipynb"})
    monkeypatch.setenv("HOME", str(tmp_path))
    sent = []

    def request(method, resource, **kw):
        if resource == "/courses":
            return [{"id": "ai101", "role": "instructor", "assignments": [{"name": "hw1"}]}]
        assert resource == "/courses/ai101/assignments/hw1/submissions/s2/grades"
        if method == "PUT":
            sent.append(kw["json"])
            return {**SHEET, "score": 4}
        return SHEET

    monkeypatch.setattr(client, "request", request)
    ip = InstructorPanel()
    ip.student.value = "s2"
    ip.load_button.click()
    assert "Mark scheme" in ip.sheet_box.children[0].children[0].value
    _, points, _, comment = ip.inputs[0]
    assert points.max == 1
    points.value, comment.value = 1, "Good."
    ip.save_button.click()
    assert sent == [{"grades": [{"notebook": "ps1.ipynb", "grade_id": "explain",
                                 "points": 1.0, "comment": "Good."}]}]
    assert "Saved: s2: 4 / 7" in ip.status.value
