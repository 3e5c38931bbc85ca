"""A student's journey through an assignment, in English and in Chinese, asserting what
the student reads: the spawn form preselects what the course grants (1 NPU); an
assignment not released yet is not offered; Fetch opens the notebook; an answer typed
but not saved is what Submit sends (the graded score proves it), and the student is told
which attempt was submitted and when; the row shows due date, attempt, late, feedback
ready and the score; Feedback opens the feedback page; fetching again keeps the work
and says so, as information, not as an error. The Chinese screens hold no English."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import english_words, login, open_sidebar, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "course"
COURSE = """kind: Course
id: {cid}
title: Deep learning 101
instructors: [{teacher}]
students: [{student}]
image: npuhub/base:latest
npus_per_student: 1
feedback: manual
assignments:
  - {{name: ps1, source: ps1, release: "2020-01-01T00:00:00Z", due: "2020-01-02T00:00:00Z"}}
  - {{name: ps2, source: ps2, release: "2099-01-01T00:00:00Z", due: "2099-01-08T00:00:00Z"}}
"""
# ps1 (released by the instructor) is due in the past: the submission is late but
# accepted, and its feedback is held until the instructor returns it; ps2 opens in 2099
ANSWER = "def squares(n): return [i * i for i in range(1, n + 1)]"

TEXT = {
    "en": {"fetch": "Fetch", "submit": "Submit", "feedback": "Feedback",
           "not_yet": "opens",
           "submitted": r"Submitted ps1, attempt 1, at .* \(late\) \(saved problems\.ipynb first\)",
           "attempt": "attempt 1", "late": "late", "ready": "feedback ready",
           "score": "score 2 /", "kept": "Fetched 0 files: your work in", "refresh": "Refresh",
           "held": "feedback held until the instructor returns it"},
    "zh": {"fetch": "获取", "submit": "提交", "feedback": "反馈",
           "not_yet": "开放", "submitted": r"已提交 ps1（第 1 次，迟交），时间 .*（已先保存 problems\.ipynb）",
           "attempt": "第 1 次提交", "late": "迟交", "ready": "反馈已就绪",
           "score": "得分 2 /", "kept": "获取了 0 个文件", "refresh": "刷新",
           "held": "反馈暂由教师保留，发还后可查看"},
}


def apply_course(hub, tmp_path) -> dict:
    cid = "c" + uuid.uuid4().hex[:6]
    names = {"cid": cid, "teacher": f"{cid}t", "student": f"{cid}s"}
    for a in ("ps1", "ps2"):
        shutil.copytree(FIXTURE / a, tmp_path / a)
    (tmp_path / "course.yaml").write_text(COURSE.format(**names))
    env = dict(os.environ, NPUHUB_STATE_DIR=str(hub.state_dir), NPUHUB_PORT=str(hub.port))
    r = subprocess.run([sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
                        "--state-dir", str(hub.state_dir), "apply", "-f",
                        str(tmp_path / "course.yaml")],
                       env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return names


def teacher_api(hub, names, method, path, **kw):
    token = hub.user_token(names["teacher"])
    return requests.request(method, f"{hub.service}/courses/{names['cid']}/assignments/{path}",
                            headers={"Authorization": f"token {token}"}, timeout=600, **kw)


def collect_and_grade(hub, names) -> dict:
    r = teacher_api(hub, names, "POST", "ps1/collect", json={})
    assert r.status_code == 200 and r.json()["submissions"] == 1, r.text
    r = teacher_api(hub, names, "POST", "ps1/autograde?wait=0", json={})
    state = r.json()
    deadline = time.monotonic() + 600
    while state["state"] == "running":
        assert time.monotonic() < deadline, state
        time.sleep(1)
        state = teacher_api(hub, names, "GET", "ps1/autograde").json()
    assert state["state"] == "done", state
    return state


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_student_submits_what_is_on_screen(hub, page_factory, tmp_path, lang):
    t = TEXT[lang]
    names = apply_course(hub, tmp_path)
    cid, student = names["cid"], names["student"]
    assert teacher_api(hub, names, "POST", "ps1/release", json={}).status_code == 200
    page = page_factory("zh-CN" if lang == "zh" else "en-US")
    login(page, hub, student)
    page.goto(f"{hub.url}/hub/spawn")
    # the course's card is chosen, with the 1 NPU the course grants
    expect(page.locator(f".npuhub-card[data-profile=course-{cid}] input")).to_be_checked()
    expect(page.locator("#npus")).to_have_value("1")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/user/{student}/lab.*"), timeout=180_000)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=60_000)
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 1")

    panel = open_sidebar(page)
    row = panel.locator(f'[data-assignment="{cid}/ps1"]')
    later = panel.locator(f'[data-assignment="{cid}/ps2"]')
    expect(row).to_contain_text("ps1", timeout=30_000)
    # not released yet: said, and nothing to fetch or submit
    expect(later).to_contain_text(t["not_yet"])
    expect(later.get_by_role("button")).to_have_count(0)

    row.get_by_role("button", name=t["fetch"], exact=True).click()
    # Fetch opens the notebook it fetched
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Cell").nth(2)).to_contain_text("def squares", timeout=60_000)
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        "problems.ipynb")

    # the student types the answer and does not save
    editor = notebook.locator(".jp-Cell").nth(2).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(ANSWER)
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_have_class(
        re.compile("jp-mod-dirty"))

    panel = open_sidebar(page)
    row = panel.locator(f'[data-assignment="{cid}/ps1"]')
    row.get_by_role("button", name=t["submit"], exact=True).click()
    expect(page.get_by_text(re.compile(t["submitted"]))).to_be_visible(timeout=30_000)
    expect(row.locator(".npuhub-state")).to_contain_text(t["attempt"])
    expect(row.locator(".npuhub-state")).to_contain_text(t["late"])
    screenshot(page, f"student-submitted-{lang}")

    collect_and_grade(hub, names)
    panel.get_by_role("button", name=t["refresh"]).click()
    state = row.locator(".npuhub-state")
    # graded, but held: said as a state, without a score or a Feedback button
    expect(state).to_contain_text(t["held"], timeout=30_000)
    expect(state).not_to_contain_text(t["score"])
    expect(row.get_by_role("button", name=t["feedback"], exact=True)).to_have_count(0)
    assert teacher_api(hub, names, "POST", "ps1/return", json={}).status_code == 200
    panel.get_by_role("button", name=t["refresh"]).click()
    # the typed answer was graded: squares' 2 points (the file on disk had none)
    expect(state).to_contain_text(t["score"], timeout=30_000)
    expect(state).to_contain_text(t["ready"])
    row.get_by_role("button", name=t["feedback"], exact=True).click()
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        ".html", timeout=30_000)
    expect(page.locator(".jp-HTMLViewer iframe")).to_be_visible()

    # fetching again keeps the work, as information (not a red error)
    panel = open_sidebar(page)
    row = panel.locator(f'[data-assignment="{cid}/ps1"]')
    row.get_by_role("button", name=t["fetch"], exact=True).click()
    expect(page.get_by_text(t["kept"])).to_be_visible(timeout=30_000)
    expect(page.locator("#filebrowser")).to_be_visible()  # fetching shows its folder
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        "problems.ipynb")
    panel = open_sidebar(page)
    screenshot(page, f"student-feedback-{lang}")
    if lang == "zh":
        toasts = page.locator(".Toastify").all_inner_texts()
        shown = "\n".join([panel.inner_text(), *toasts])
        # datasets other people published are listed by their own names, titles and licenses
        token = hub.user_token(student)
        listed = requests.get(f"{hub.service}/datasets", timeout=30,
                              headers={"Authorization": f"token {token}"}).json()
        theirs = [str(d.get(k) or "") for d in listed
                  for k in ("name", "title", "license", "description", "version")]
        assert english_words(shown, allowed=[cid, student, "ps1", "ps2", "problems",
                                             "Deep learning", *filter(None, theirs)]) == []
    hub.stop_server(student)
