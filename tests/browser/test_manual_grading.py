"""An instructor grades by hand in the Lab sidebar, in English and in Chinese: the grades
table offers "Grade by hand" on a submission with a cell that needs a person; the dialog
shows the student's answer, the points at most and the mark fields; saving gives the
points and the comment, which the platform keeps (the REST sheet says so) and the table
shows in the new score. The Chinese dialog holds no English. The instructor's server asked
nothing of any outside address meanwhile (Lab's extension manager is off)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import english_words, open_sidebar, screenshot, start_lab
from tests.browser.test_student_journey import apply_course, collect_and_grade, teacher_api
from tests.integration.test_courses import fill
from tests.unit.test_course_grading import ANSWERS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TEXT = {
    "en": {"grades": "Grades", "by_hand": "Grade by hand", "save": "Save grades",
           "saved": r"Saved: .* now has 6 / 7 in ps1", "most": "out of 1",
           "comment": "Clear, and short."},
    "zh": {"grades": "成绩", "by_hand": "人工评分", "save": "保存评分",
           "saved": r"已保存：.* 在 ps1 中的得分现为 6 / 7", "most": "满分 1",
           "comment": "清楚而简洁。"},
}


def submit_as_student(hub, names) -> None:
    token = hub.user_token(names["student"])
    base = f"{hub.service}/courses/{names['cid']}/assignments/ps1"
    auth = {"Authorization": f"token {token}"}
    text = requests.get(f"{base}/fetch", headers=auth, timeout=60).json()["files"][
        "problems.ipynb"]
    r = requests.post(f"{base}/submit", headers=auth, timeout=60,
                      json={"files": {"problems.ipynb": fill(text, **ANSWERS)}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_instructor_grades_by_hand_in_the_sidebar(hub, page_factory, tmp_path, lang):
    t = TEXT[lang]
    names = apply_course(hub, tmp_path)
    cid, student, teacher = names["cid"], names["student"], names["teacher"]
    assert teacher_api(hub, names, "POST", "ps1/release", json={}).status_code == 200
    submit_as_student(hub, names)
    collect_and_grade(hub, names)

    page = page_factory("zh-CN" if lang == "zh" else "en-US")
    start_lab(page, hub, teacher)
    panel = open_sidebar(page)
    panel.get_by_role("button", name=t["grades"], exact=True).click()
    row = panel.locator(f'tr[data-student="{student}"][data-assignment="ps1"]')
    expect(row).to_contain_text("5 / 7", timeout=30_000)  # the explanation has no points yet
    row.get_by_role("button", name=t["by_hand"]).click()

    dialog = page.locator(".jp-Dialog")
    cell = dialog.locator('[data-grade-id="explain"]')
    expect(cell).to_contain_text(ANSWERS["explain"])
    expect(cell).to_contain_text(t["most"])
    cell.locator("input").fill("1")
    cell.locator("textarea").fill(t["comment"])
    screenshot(page, f"instructor-grade-by-hand-{lang}")
    if lang == "zh":
        # what the dialog says, without the notebook's own text (answers, solutions)
        chrome = dialog.evaluate("d => { const c = d.cloneNode(true);"
                                 " c.querySelectorAll('pre').forEach(p => p.remove());"
                                 " return c.textContent; }")
        assert english_words(chrome, allowed=[cid, student, "ps1", "explain", "answer",
                                              "squares", "hypotenuse"]) == []
    dialog.get_by_role("button", name=t["save"]).click()
    expect(page.get_by_text(re.compile(t["saved"]))).to_be_visible(timeout=30_000)
    expect(panel.locator(f'tr[data-student="{student}"][data-assignment="ps1"]')) \
        .to_contain_text("6 / 7")

    sheet = teacher_api(hub, names, "GET", f"ps1/submissions/{student}/grades").json()
    (explain,) = [c for nb in sheet["notebooks"] for c in nb["cells"]
                  if c["grade_id"] == "explain"]
    assert (explain["points"], explain["comment"]) == (1.0, t["comment"])
    assert sheet["score"] == 6
    # the instructor's Lab session asked nothing of any outside address (no package index)
    logs = hub.container(teacher).logs().decode(errors="replace")
    assert "SSL Error" not in logs and "pypi.org" not in logs, logs[-2000:]
    hub.stop_server(teacher)
