"""Journeys in JupyterLab with the npuhub sidebar, in a real browser against the real
stack: a researcher mounts a dataset and runs the open notebook as a batch job; a student
fetches and submits an assignment and
opens the feedback after the instructor autogrades."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from npuhub.hub.datasets import mounter
from tests.browser.conftest import NOTEBOOK, open_sidebar, put_file, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "course"


@pytest.fixture(scope="module", autouse=True)
def _unmount_at_end(hub):
    yield
    mounter.unmount_all(hub.state_dir)


def dataset(hub, group: str) -> str:
    name = "d" + uuid.uuid4().hex[:8]
    src = hub.state_dir.parent / f"{hub.prefix}-src-{name}"
    src.mkdir()
    (src / "hello.txt").write_text("hello from the dataset\n")
    os.chmod(src, 0o755)
    r = hub.request("POST", "/datasets", base=hub.service,
                    json={"name": name, "source": str(src), "access": [group],
                          "title": f"Greetings {name}"})
    assert r.status_code == 201, r.text
    return name


def test_researcher_mounts_a_dataset_and_runs_the_notebook_as_a_job(hub, page, username):
    group = "g" + username[-8:]  # only this user sees it: other screens stay theirs
    name = dataset(hub, group)
    hub.create_user(username, groups=[group])
    start_lab(page, hub, username, npus=2)
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 2")

    panel = open_sidebar(page)
    panel.locator(".npuhub-search").fill(name)
    row = panel.locator(f"[data-dataset={name}]")
    expect(row).to_contain_text(f"Greetings {name}")
    row.get_by_role("button", name="Mount").click()
    expect(row).to_contain_text("mounted", timeout=30_000)
    row.get_by_role("button", name="Open").click()
    listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
    expect(listing).to_contain_text("hello.txt")

    token = hub.user_token(username)
    put_file(hub, username, token, "train.ipynb", NOTEBOOK)
    page.goto(f"{hub.url}/user/{username}/lab/tree/train.ipynb")
    page.locator(".jp-Notebook").wait_for(state="visible", timeout=60_000)
    panel = open_sidebar(page)
    panel.locator(".npuhub-npus").fill("1")
    panel.locator(".npuhub-time").fill("0:10:00")
    panel.locator(".npuhub-params").fill("epochs=3")
    panel.get_by_role("button", name="Submit current notebook").click()
    job = panel.locator(".npuhub-jobs [data-job]").first
    expect(job).to_contain_text("train", timeout=30_000)
    expect(job.locator(".npuhub-state")).to_have_text("succeeded", timeout=240_000)
    job_id = job.get_attribute("data-job")
    job.get_by_role("button", name="Outputs").click()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(job_id)
    expect(listing.locator(".jp-DirListing-item").first).to_be_visible(timeout=30_000)

    # the same notebook from the file browser's context menu
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    item = listing.locator(".jp-DirListing-item", has_text="train.ipynb")
    item.click()
    item.click(button="right")
    menu_item = page.locator('.lm-Menu-item[data-command="npuhub:run-as-job"]')
    expect(menu_item).to_contain_text("Run as batch job…")
    menu_item.click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("[name=time_limit]").fill("2h")
    dialog.locator("[name=parameters]").fill("msg=hello, world\nepochs=3")
    dialog.get_by_role("button", name="Submit").click()
    panel = open_sidebar(page)
    expect(panel.locator(".npuhub-jobs [data-job]")).to_have_count(2, timeout=30_000)
    # what was typed reads as the Python API reads it: 2h is two hours, one parameter
    # per line with its comma kept
    jobs = hub.request("GET", "/jobs", token=token, base=hub.service).json()
    dialog_job = max(jobs, key=lambda j: j["id"])
    assert (dialog_job["time_limit"], dialog_job["parameters"]) == (
        7200, {"msg": "hello, world", "epochs": 3})
    first = next(j for j in jobs if str(j["id"]) == job_id)
    assert (first["time_limit"], first["parameters"]) == (600, {"epochs": 3})
    hub.stop_server(username)


COURSE = """kind: Course
id: {cid}
title: Browser course
instructors: [{teacher}]
students: [{student}]
image: npuhub/base:latest
npus_per_student: 1
assignments:
  - {{name: ps1, source: ps1, release: "2020-01-01T00:00:00Z", due: "2020-01-02T00:00:00Z"}}
"""
# due in the past: the submission is late but accepted, and feedback is returned as soon
# as it is graded (students read feedback only after the due date)


def test_student_fetches_submits_and_opens_feedback(hub, page, page_factory, tmp_path):
    cid = "c" + uuid.uuid4().hex[:6]
    names = {"cid": cid, "teacher": f"{cid}t", "student": f"{cid}s"}
    shutil.copytree(FIXTURE / "ps1", tmp_path / "ps1")
    (tmp_path / "course.yaml").write_text(COURSE.format(**names))
    env = dict(os.environ, NPUHUB_STATE_DIR=str(hub.state_dir), NPUHUB_PORT=str(hub.port))
    r = subprocess.run([sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
                        "--state-dir", str(hub.state_dir), "apply", "-f",
                        str(tmp_path / "course.yaml")],
                       env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    teacher = hub.user_token(names["teacher"])
    base = f"{hub.service}/courses/{cid}/assignments/ps1"
    r = requests.post(f"{base}/release", headers={"Authorization": f"token {teacher}"},
                      json={}, timeout=120)
    assert r.status_code in (200, 201), r.text

    student = names["student"]
    start_lab(page, hub, student, profile=f"course-{cid}")
    panel = open_sidebar(page)
    row = panel.locator(f'[data-assignment="{cid}/ps1"]')
    expect(row).to_contain_text("ps1", timeout=30_000)
    row.get_by_role("button", name="Fetch").click()
    listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
    expect(listing).to_contain_text("problems.ipynb", timeout=30_000)
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("ps1")

    panel = open_sidebar(page)  # fetching showed the file browser in its place
    row = panel.locator(f'[data-assignment="{cid}/ps1"]')
    row.get_by_role("button", name="Submit").click()
    expect(row).to_contain_text("submitted", timeout=30_000)
    # the instructor collects and autogrades from the sidebar of their own JupyterLab; the
    # grading runs in the background, its progress in a notification until it is done
    tpage = page_factory("en-US")
    start_lab(tpage, hub, names["teacher"])
    tpanel = open_sidebar(tpage)
    trow = tpanel.locator(f'[data-assignment="{cid}/ps1"]')
    trow.get_by_role("button", name="Collect").click()
    expect(tpage.get_by_text("Collected 1 submission of ps1")).to_be_visible(timeout=60_000)
    trow.get_by_role("button", name="Autograde").click()
    expect(tpage.get_by_text("Graded 1 submission", exact=True)).to_be_visible(timeout=300_000)
    r = requests.get(f"{base}/autograde", headers={"Authorization": f"token {teacher}"},
                     timeout=60)
    assert r.json()["state"] == "done" and r.json()["graded"] == 1, r.text
    hub.stop_server(names["teacher"])

    panel.get_by_role("button", name="Refresh").click()
    expect(row.locator(".npuhub-state")).to_contain_text("score", timeout=30_000)
    row.get_by_role("button", name="Feedback").click()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("feedback")
    expect(listing.locator(".jp-DirListing-item").first).to_be_visible(timeout=30_000)
    hub.stop_server(student)
