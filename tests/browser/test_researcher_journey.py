"""A researcher's journey, in English and in Chinese, asserting what the researcher reads:
the spawn form (free NPUs, the count), a server with 2 NPUs; a dataset found in the
sidebar with its size, version, licence and description, mounted and opened; the open
notebook run as a batch job from the sidebar: its row shows the NPUs, the elapsed time
and the state until "succeeded", Outputs opens its report; a second notebook run from
the file browser's "Run as batch job…", running, cancelled after the confirmation. The
Chinese screens hold no English, and a batch job is 任务 there."""

from __future__ import annotations

import os
import re
import uuid

import pytest
from playwright.sync_api import expect

from npuhub.hub.datasets import mounter
from tests.browser.conftest import (
    NOTEBOOK,
    english_words,
    login,
    open_sidebar,
    put_file,
    screenshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SLEEPER = {**NOTEBOOK, "cells": [{**NOTEBOOK["cells"][0], "id": "s1",
                                  "source": "import time\ntime.sleep(600)"}]}

TEXT = {
    "en": {"heading": "Server Options", "free": "NPUs free now:", "start": "Start",
           "title": "Greetings {name}", "description": "Hello in many languages",
           "mount": "Mount", "mounted": "mounted", "open": "Open", "version": "version 1.0",
           "licence": "licence CC-BY-4.0", "mounted_note": "Mounted {name} at ~/datasets/{name}",
           "submit_current": "Submit current notebook", "queued": r"Job \d+ queued",
           "npus": "1 NPU", "elapsed": r"\d+ s|\d+ min \d+ s", "succeeded": "succeeded",
           "outputs": "Outputs", "run_as": "Run as batch job…", "submit": "Submit",
           "running": "running", "cancel": "Cancel", "cancel_title": r"Cancel job \d+\?",
           "cancel_job": "Cancel job", "cancelled": "cancelled", "jobs": "Jobs",
           "keeps": "what it wrote so far stays in ~/jobs/"},
    "zh": {"heading": "服务器选项", "free": "当前空闲 NPU：", "start": "启动",
           "title": "问候语 {name}", "description": "多种语言的问候",
           "mount": "挂载", "mounted": "已挂载", "open": "打开", "version": "版本 1.0",
           "licence": "许可证 CC-BY-4.0", "mounted_note": "已将 {name} 挂载到 ~/datasets/{name}",
           "submit_current": "将当前笔记本作为任务提交", "queued": r"任务 \d+ 已排队",
           "npus": "1 个 NPU", "elapsed": r"\d+ 秒|\d+ 分 \d+ 秒", "succeeded": "成功",
           "outputs": "输出", "run_as": "作为批处理任务运行…", "submit": "提交",
           "running": "运行中", "cancel": "取消", "cancel_title": r"取消任务 \d+？",
           "cancel_job": "取消任务", "cancelled": "已取消", "jobs": "批处理任务",
           "keeps": "已写出的文件保留在 ~/jobs/"},
}


@pytest.fixture(scope="module", autouse=True)
def _unmount_at_end(hub):
    yield
    mounter.unmount_all(hub.state_dir)


def dataset(hub, t, group: str) -> str:
    """A dataset only `group` sees (other journeys' screens stay theirs)."""
    name = "d" + uuid.uuid4().hex[:8]
    src = hub.state_dir.parent / f"{hub.prefix}-src-{name}"
    src.mkdir()
    (src / "hello.txt").write_text("hello from the dataset\n")
    os.chmod(src, 0o755)
    r = hub.request("POST", "/datasets", base=hub.service,
                    json={"name": name, "source": str(src), "access": [group],
                          "title": t["title"].format(name=name), "version": "1.0",
                          "license": "CC-BY-4.0", "description": t["description"]})
    assert r.status_code == 201, r.text
    return name


def no_english(page, panel, allowed) -> None:
    """The sidebar and the notifications of a Chinese screen: no English word."""
    toasts = page.locator(".Toastify").all_inner_texts()
    shown = "\n".join([panel.inner_text(), *toasts])
    assert english_words(shown, allowed=allowed) == [], shown


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_researcher_runs_a_notebook_as_a_batch_job(hub, page_factory, username, lang):
    t = TEXT[lang]
    group = "g" + username[-8:]
    name = dataset(hub, t, group)
    hub.create_user(username, groups=[group])
    token = hub.user_token(username)
    page = page_factory("zh-CN" if lang == "zh" else "en-US")
    login(page, hub, username)

    # the spawn form: free NPUs on the card, the count chosen, Start
    page.goto(f"{hub.url}/hub/spawn")
    expect(page.locator("h1")).to_have_text(t["heading"])
    card = page.locator(".npuhub-card[data-profile=base]")
    expect(card).to_contain_text(t["free"])
    card.click()
    page.select_option("#npus", "2")
    screenshot(page, f"researcher-spawn-{lang}")
    page.locator("#spawn_form button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/user/{username}/lab.*"), timeout=180_000)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=60_000)
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 2")

    # the dataset: found, described, mounted, opened
    panel = open_sidebar(page)
    panel.locator(".npuhub-search").fill(name)
    row = panel.locator(f"[data-dataset={name}]")
    expect(row).to_contain_text(t["title"].format(name=name))
    meta = row.locator(".npuhub-meta")
    for part in (t["version"], t["licence"], t["description"]):
        expect(meta).to_contain_text(part)
    row.get_by_role("button", name=t["mount"], exact=True).click()
    expect(page.get_by_text(t["mounted_note"].format(name=name))).to_be_visible()
    expect(row.locator(".npuhub-state")).to_have_text(t["mounted"], timeout=30_000)
    row.get_by_role("button", name=t["open"], exact=True).click()
    listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
    expect(listing).to_contain_text("hello.txt")

    # the open notebook as a batch job, from the sidebar
    put_file(hub, username, token, "train.ipynb", NOTEBOOK)
    put_file(hub, username, token, "sleeper.ipynb", SLEEPER)
    page.goto(f"{hub.url}/user/{username}/lab/tree/train.ipynb")
    page.locator(".jp-Notebook").wait_for(state="visible", timeout=60_000)
    panel = open_sidebar(page)
    panel.locator(".npuhub-search").fill(name)  # other datasets are other people's words
    panel.locator(".npuhub-npus").fill("1")
    panel.locator(".npuhub-time").fill("0:10:00")
    panel.get_by_role("button", name=t["submit_current"]).click()
    expect(page.get_by_text(re.compile(t["queued"]))).to_be_visible()
    job = panel.locator(".npuhub-jobs [data-job]").first
    expect(job).to_contain_text("train", timeout=30_000)
    job_meta = job.locator(".npuhub-job-meta")
    expect(job_meta).to_contain_text(t["npus"])
    expect(job.locator(".npuhub-state")).to_have_text(t["succeeded"], timeout=240_000)
    # the run's length, beside its NPUs
    expect(job_meta).to_have_text(re.compile(rf"{t['npus']} · ({t['elapsed']})$"))
    screenshot(page, f"researcher-job-done-{lang}")
    if lang == "zh":
        no_english(page, panel, [name, username, "train", "hello", "txt", "CC-BY"])
    job_id = job.get_attribute("data-job")
    job.get_by_role("button", name=t["outputs"], exact=True).click()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(job_id)
    # its report opens
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        "train.html", timeout=30_000)

    # a second notebook from the file browser's menu, cancelled while it runs
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    item = listing.locator(".jp-DirListing-item", has_text="sleeper")
    item.click()
    item.click(button="right")
    menu_item = page.locator('.lm-Menu-item[data-command="npuhub:run-as-job"]')
    expect(menu_item).to_contain_text(t["run_as"])
    menu_item.click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("[name=time_limit]").fill("10m")
    dialog.get_by_role("button", name=t["submit"], exact=True).click()
    panel = open_sidebar(page)
    second = panel.locator(".npuhub-jobs [data-job]", has_text="sleeper")
    expect(second.locator(".npuhub-state")).to_have_text(t["running"], timeout=120_000)
    expect(second.locator(".npuhub-job-meta")).to_have_text(
        re.compile(rf"({t['elapsed']})$"))
    second.get_by_role("button", name=t["cancel"], exact=True).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(re.compile(t["cancel_title"]))
    expect(dialog).to_contain_text(t["keeps"])
    screenshot(page, f"researcher-cancel-{lang}")
    if lang == "zh":
        assert english_words(dialog.inner_text()) == []
    dialog.get_by_role("button", name=t["cancel_job"], exact=True).click()
    expect(second.locator(".npuhub-state")).to_have_text(t["cancelled"], timeout=60_000)
    expect(panel.locator("h3", has_text=t["jobs"])).to_be_visible()
    if lang == "zh":
        no_english(page, panel, [name, username, "train", "sleeper", "CC-BY"])
    hub.stop_server(username)
