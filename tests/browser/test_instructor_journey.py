"""An instructor's journey through an assignment, in English and in Chinese, asserting
what the instructor reads in the sidebar's course view: the assignment not released
yet, Release opens the student version and asks first; after a student submitted, the
row counts the submission, Collect says how many it collected; Autograde reports the
graded count; Grades shows its own table with the counts, and the CSV download holds the
student's row; a newer attempt after the grading is counted as not graded yet. The
Chinese screens hold no English."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import english_words, open_sidebar, screenshot, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "course"
COURSE = """kind: Course
id: {cid}
title: {title}
instructors: [{teacher}]
students: [{student}]
image: npuhub/base:latest
assignments:
  - {{name: ps1, source: ps1, due: "2099-01-08T00:00:00Z"}}
"""

TEXT = {
    "en": {"title": "Deep learning 101", "role": "Deep learning 101 (instructor)",
           "not_released": "not released yet", "released": "released", "due": "due ",
           "release": "Release", "confirm": "Release ps1?",
           "preview": "The student version (1 file) is open in ~/courses/{cid}/student-version/ps1.",
           "released_note": "Released ps1", "submitted": "1 submitted",
           "collect": "Collect", "collected": "Collected 1 submission of ps1",
           "collected_count": "1 collected", "autograde": "Autograde",
           "graded": "Graded 1 submission", "graded_count": "1 graded", "last": "last graded ",
           "grades": "Grades", "counts": "ps1: 1 graded, 0 late",
           "head": ["Student", "Assignment", "Score", "Attempt", "Late", "By hand"],
           "csv": "Download CSV", "refresh": "Refresh",
           "newer": "1 newer attempt not graded",
           "held": "feedback after the due date, ", "return": "Return feedback",
           "return_confirm": "Return the feedback of ps1?",
           "return_warning": "has not passed yet",
           "returned_note": "Returned the feedback of ps1 (1 student graded)",
           "returned": "feedback returned"},
    "zh": {"title": "深度学习入门", "role": "深度学习入门（教师）",
           "not_released": "尚未发布", "released": "已发布", "due": "截止 ",
           "release": "发布", "confirm": "发布 ps1？",
           "preview": "学生版本（1 个文件）已在 ~/courses/{cid}/student-version/ps1 中打开。",
           "released_note": "已发布 ps1", "submitted": "已提交 1 份",
           "collect": "收取", "collected": "已收取 ps1 的 1 份提交",
           "collected_count": "已收取 1 份", "autograde": "自动评分",
           "graded": "已评分 1 份提交", "graded_count": "已评分 1 份", "last": "上次评分于 ",
           "grades": "成绩", "counts": "ps1：已评分 1 份，迟交 0 份",
           "head": ["学生", "作业", "得分", "提交次数", "迟交", "人工评分"],
           "csv": "下载 CSV", "refresh": "刷新",
           "newer": "1 份较新的提交尚未评分",
           "held": "之后可查看反馈", "return": "发还反馈", "return_confirm": "发还 ps1 的反馈？",
           "return_warning": "尚未到",
           "returned_note": "已发还 ps1 的反馈（已评分学生 1 名）", "returned": "反馈已发还"},
}


def apply_course(hub, tmp_path, title: str) -> dict:
    cid = "c" + uuid.uuid4().hex[:6]
    names = {"cid": cid, "teacher": f"{cid}t", "student": f"{cid}s", "title": title}
    shutil.copytree(FIXTURE / "ps1", tmp_path / "ps1")
    (tmp_path / "course.yaml").write_text(COURSE.format(**names))
    env = dict(os.environ, NPUHUB_STATE_DIR=str(hub.state_dir), NPUHUB_PORT=str(hub.port))
    r = subprocess.run([sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
                        "--state-dir", str(hub.state_dir), "apply", "-f",
                        str(tmp_path / "course.yaml")],
                       env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return names


def student_submits(hub, names) -> None:
    """The student fetches ps1 and submits it (their journey has its own test)."""
    token = hub.user_token(names["student"])
    base = f"{hub.service}/courses/{names['cid']}/assignments/ps1"
    auth = {"Authorization": f"token {token}"}
    r = requests.get(f"{base}/fetch", headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    r = requests.post(f"{base}/submit", headers=auth, json={"files": r.json()["files"]},
                      timeout=60)
    assert r.status_code == 200, r.text


def no_english(page, panel, names) -> None:
    """The sidebar's headings, the course and the notifications (the datasets there are
    described in their authors' words)."""
    toasts = page.locator(".Toastify").all_inner_texts()
    course = panel.locator(f'[data-course="{names["cid"]}"]').inner_text()
    shown = "\n".join([*panel.locator("h2, h3, button").all_inner_texts(), course, *toasts])
    allowed = [names["cid"], names["teacher"], names["student"], "ps1", "problems"]
    assert english_words(shown, allowed=allowed) == [], shown


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_instructor_releases_collects_grades_and_downloads(hub, page_factory, tmp_path, lang):
    t = TEXT[lang]
    names = apply_course(hub, tmp_path, t["title"])
    cid, teacher, student = names["cid"], names["teacher"], names["student"]
    page = page_factory("zh-CN" if lang == "zh" else "en-US")
    start_lab(page, hub, teacher)

    panel = open_sidebar(page)
    course = panel.locator(f'[data-course="{cid}"]')
    expect(course.locator("h4")).to_have_text(t["role"], timeout=30_000)
    row = course.locator(f'[data-assignment="{cid}/ps1"]')
    state = row.locator(".npuhub-state")
    expect(state).to_contain_text(t["not_released"])
    expect(state).to_contain_text(t["due"])

    # Release: the student version opens, and a dialog asks first
    row.get_by_role("button", name=t["release"], exact=True).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(t["confirm"])
    expect(dialog).to_contain_text(t["preview"].format(cid=cid))
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        "problems.ipynb", timeout=30_000)
    screenshot(page, f"instructor-release-{lang}")
    if lang == "zh":
        assert english_words(dialog.inner_text(), allowed=[cid, "ps1"]) == []
    dialog.get_by_role("button", name=t["release"], exact=True).click()
    expect(page.get_by_text(t["released_note"], exact=True)).to_be_visible()
    expect(state).to_contain_text(t["released"])

    # a student submitted: the row counts it, Collect says how many it collected
    student_submits(hub, names)
    panel.get_by_role("button", name=t["refresh"], exact=True).click()
    expect(state).to_contain_text(t["submitted"])
    row.get_by_role("button", name=t["collect"], exact=True).click()
    expect(page.get_by_text(t["collected"])).to_be_visible(timeout=60_000)
    expect(state).to_contain_text(t["collected_count"])

    # autograde: its progress, then the graded count
    row.get_by_role("button", name=t["autograde"], exact=True).click()
    expect(page.get_by_text(t["graded"], exact=True)).to_be_visible(timeout=300_000)
    panel.get_by_role("button", name=t["refresh"], exact=True).click()
    expect(state).to_contain_text(t["graded_count"])
    expect(state).to_contain_text(t["last"])

    # feedback is held until the due date (2099); the instructor returns it, asked first
    expect(state).to_contain_text(t["held"])
    row.get_by_role("button", name=t["return"], exact=True).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(t["return_confirm"])
    expect(dialog).to_contain_text(t["return_warning"])
    if lang == "zh":
        assert english_words(dialog.inner_text(), allowed=[cid, "ps1", "UTC"]) == []
    dialog.get_by_role("button", name=t["return"], exact=True).click()
    expect(page.get_by_text(t["returned_note"], exact=True)).to_be_visible()
    expect(state).to_contain_text(t["returned"])
    expect(row.get_by_role("button", name=t["return"], exact=True)).to_have_count(0)

    # the grades in their own table, and the CSV
    course.get_by_role("button", name=t["grades"], exact=True).click()
    view = course.locator(".npuhub-grades-view")
    expect(view.locator(".npuhub-counts")).to_have_text(t["counts"])
    expect(view.locator("th")).to_have_text(t["head"])
    line = view.locator(f'tr[data-student="{student}"] td')
    expect(line.nth(1)).to_have_text("ps1")
    expect(line.nth(2)).to_have_text(re.compile(r"^\d+(\.\d+)? / \d+(\.\d+)?$"))
    expect(line.nth(3)).to_have_text("1")
    # the picture's height: the sidebar scrolls to the table, as a person would
    page.set_viewport_size({"width": 1400, "height": 640})
    view.evaluate("el => el.scrollIntoView({block: 'end'})")
    screenshot(page, f"instructor-grades-{lang}")
    if lang == "zh":
        no_english(page, panel, names)
    with page.expect_download() as download:
        view.get_by_role("link", name=t["csv"]).click()
    assert download.value.suggested_filename == f"{cid}-grades.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["student"], r["assignment"], r["attempt"], r["late"]) for r in rows] == [
        (student, "ps1", "1", "false")]

    # the student submits again: the newer attempt, not graded yet, is counted
    student_submits(hub, names)
    panel.get_by_role("button", name=t["refresh"], exact=True).click()
    expect(state).to_contain_text(t["newer"])
    expect(view.locator("th")).to_have_text(t["head"])  # the grades stay open
    hub.stop_server(teacher)
