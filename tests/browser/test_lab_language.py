"""JupyterLab in Simplified Chinese: the user picks 中文 in Settings > Language, Lab
reloads in Chinese (the language pack in the image) and so does the npuhub sidebar, the
status bar item and the file-browser menu (npuhub's own catalog, extensions/locale/).
The hub's home page follows the browser's language meanwhile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NOTEBOOK, open_sidebar, put_file, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_lab_follows_its_language_setting(hub, page_factory, username):
    hub.create_user(username)
    page = page_factory("zh-CN")
    start_lab(page, hub, username, npus=1)
    menubar = page.locator("#jp-menu-panel")
    expect(menubar).to_contain_text("File")  # Lab's own default is English

    menubar.get_by_text("Settings", exact=True).click()
    page.locator(".lm-Menu-item", has_text="Language").hover()
    page.locator('.lm-Menu-item[data-command="jupyterlab-translation:zh_CN"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Change and reload"

    expect(menubar).to_contain_text("文件", timeout=60_000)
    panel = open_sidebar(page)
    for title in ("数据集", "作业", "课程"):
        expect(panel.locator("h3", has_text=title)).to_be_visible()
    expect(panel.get_by_role("button", name="提交当前笔记本")).to_be_visible()
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 1")

    put_file(hub, username, hub.user_token(username), "train.ipynb", NOTEBOOK)
    page.click('.lm-TabBar-tab[data-id="filebrowser"]')
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    item = page.locator(".jp-DirListing-item", has_text="train.ipynb")
    item.click()
    item.click(button="right")
    menu_item = page.locator('.lm-Menu-item[data-command="npuhub:run-as-job"]')
    expect(menu_item).to_contain_text("作为批处理作业运行…")
    page.keyboard.press("Escape")

    # the setting is the user's: it survives a reload and English users are unaffected
    page.reload()
    expect(menubar).to_contain_text("文件", timeout=60_000)

    # the hub's home page follows the browser (zh-CN), also after home.js rewrites it
    page.goto(f"{hub.url}/hub/home")
    expect(page.locator("#start")).to_have_text("我的服务器")
    page.click("#stop")
    expect(page.locator("#stop")).to_be_hidden(timeout=60_000)
    expect(page.locator("#start")).to_have_text("启动我的服务器")
