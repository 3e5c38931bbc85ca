"""JupyterLab in Simplified Chinese. A user whose browser asks for Chinese gets Lab in
Chinese at their first start (the language pack in the image; npuhub's own catalog,
extensions/locale/, for the sidebar, the status bar item and the file-browser menu).
From then on Lab follows its own setting: the user switches to English in Settings >
Language, and a later start keeps it. The service's refusals follow the Lab's language
(not the browser's), in the Lab and in the magics of the user's kernel. The hub's home page follows the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NOTEBOOK, open_sidebar, put_file, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def run_refused(page, text: str) -> None:
    """"Run as batch job…" on train.ipynb with more NPUs than the platform has: the
    refusal's notification holds `text`."""
    if not page.locator(".jp-FileBrowser").is_visible():  # a click on its open tab closes it
        page.click('.lm-TabBar-tab[data-id="filebrowser"]')
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    item = page.locator(".jp-DirListing-item", has_text="train.ipynb")
    item.click()
    item.click(button="right")
    page.locator('.lm-Menu-item[data-command="npuhub:run-as-job"]').click()
    page.locator(".jp-Dialog input[name=npus]").fill("60")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(page.locator(".Toastify")).to_contain_text(text, timeout=60_000)


def magic(hub, username: str, line: str) -> str:
    """What a magic line prints in the user's server (its kernel's code, its environment,
    its Lab settings), stdout and stderr."""
    kind, _, rest = line.partition(" ")
    code = f"from npuhub.extensions import magics; magics.run({kind!r}, {rest!r})"
    r = hub.container(username).exec_run(["python", "-c", code], user="1000:100",
                                         workdir="/home/jovyan",
                                         environment={"HOME": "/home/jovyan"})
    assert r.exit_code == 0, r.output
    return r.output.decode().strip()


def test_lab_starts_in_the_browsers_language_then_follows_its_setting(
    hub, page_factory, username
):
    hub.create_user(username)
    page = page_factory("zh-CN")
    start_lab(page, hub, username, npus=1)
    menubar = page.locator("#jp-menu-panel")
    expect(menubar).to_contain_text("文件", timeout=60_000)
    panel = open_sidebar(page)
    for title in ("数据集", "批处理任务", "课程"):
        expect(panel.locator("h3", has_text=title)).to_be_visible()
    expect(panel.get_by_role("button", name="将当前笔记本作为任务提交")).to_be_visible()
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 1")

    put_file(hub, username, hub.user_token(username), "train.ipynb", NOTEBOOK)
    page.click('.lm-TabBar-tab[data-id="filebrowser"]')
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    item = page.locator(".jp-DirListing-item", has_text="train.ipynb")
    item.click()
    item.click(button="right")
    menu_item = page.locator('.lm-Menu-item[data-command="npuhub:run-as-job"]')
    expect(menu_item).to_contain_text("作为批处理任务运行…")
    page.keyboard.press("Escape")
    run_refused(page, "您申请了 60")  # the service's refusal, in the Lab's language
    assert magic(hub, username, "job submit train.ipynb --npus 60").startswith("npuhub：您申请了 60")
    assert magic(hub, username, "job list") == "没有任务"  # the refused jobs were never queued

    # the user chooses English in Settings > Language
    menubar.get_by_text("设置", exact=True).click()
    page.locator(".lm-Menu-item", has_text="语言").hover()
    page.locator('.lm-Menu-item[data-command="jupyterlab-translation:en"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Change and reload"
    expect(menubar).to_contain_text("File", timeout=60_000)
    expect(open_sidebar(page).locator("h3", has_text="Datasets")).to_be_visible()
    # the browser still asks for Chinese: the refusal follows the Lab, not the browser
    run_refused(page, "You asked for 60")
    assert magic(hub, username, "job submit train.ipynb --npus 60").startswith(
        "npuhub: You asked for 60")

    # the hub's home page still follows the browser, also after home.js rewrites it
    page.goto(f"{hub.url}/hub/home")
    expect(page.locator("#start")).to_have_text("我的服务器")
    page.click("#stop")
    expect(page.locator("#stop")).to_be_hidden(timeout=60_000)
    expect(page.locator("#start")).to_have_text("启动我的服务器")
    hub.wait_stopped(username)  # the stop may still be pending: the spawn page would say so

    # a new start keeps the user's own choice
    page.goto(f"{hub.url}/hub/spawn")
    page.select_option("#npus", "0")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/user/{username}/lab.*"), timeout=180_000)
    expect(menubar).to_contain_text("File", timeout=60_000)
    hub.stop_server(username)
