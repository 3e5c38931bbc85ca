"""A researcher reads, from the Lab sidebar, what their session runs on, in English and in
Chinese: the image and its digest, the node and the NPUs the ledger granted (the same as
GET …/me/session), the account; the Chinese labels hold no English."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import english_words, open_sidebar, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TEXT = {
    "en": {"button": "What this session runs on", "image": "Image", "npus": "NPUs held",
           "close": "Close"},
    "zh": {"button": "本会话的运行环境", "image": "镜像", "npus": "占用的 NPU", "close": "关闭"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_sidebar_shows_what_the_session_runs_on(hub, page_factory, lang):
    t = TEXT[lang]
    name = "p" + uuid.uuid4().hex[:8]
    hub.create_user(name)
    page = page_factory("zh-CN" if lang == "zh" else "en-US")
    start_lab(page, hub, name, npus=1)
    record = hub.request("GET", "/me/session", token=hub.user_token(name),
                         base=hub.service).json()
    (device,) = record["devices"]

    panel = open_sidebar(page)
    panel.get_by_role("button", name=t["button"]).click()
    dialog = page.locator(".jp-Dialog")
    table = dialog.locator(".npuhub-session-record")
    expect(table).to_contain_text(record["image"]["reference"])
    expect(table).to_contain_text(record["image"]["digest"])
    expect(table.locator("tr", has_text=t["npus"])).to_contain_text(
        f"{device['node']}:{device['index']}")
    expect(table.locator("tr", has_text=t["image"]).first).to_be_visible()
    if lang == "zh":
        labels = " ".join(table.locator("th").all_inner_texts()) + dialog.locator(
            ".jp-Dialog-header").inner_text()
        assert english_words(labels, allowed=["CANN"]) == [], labels  # a product name
    dialog.get_by_role("button", name=t["close"]).click()
    expect(dialog).to_have_count(0)
    hub.stop_server(name)
