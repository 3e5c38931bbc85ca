"""The spawn page in a real browser: sign in, profile cards with free NPUs and quota,
start with 2 NPUs, progress messages, JupyterLab; the same page in Simplified Chinese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# every SSE progress event the pending page receives, kept across its reload
RECORD_PROGRESS = """
(() => {
  const Orig = window.EventSource;
  if (!Orig) return;
  window.EventSource = function (url, opts) {
    const es = new Orig(url, opts);
    es.addEventListener("message", (e) => {
      const log = JSON.parse(sessionStorage.getItem("npuhub-progress") || "[]");
      log.push(JSON.parse(e.data).message || "");
      sessionStorage.setItem("npuhub-progress", JSON.stringify(log));
    });
    return es;
  };
})();
"""


def test_spawn_page_follows_accept_language(hub, page_factory, username):
    hub.create_user(username)
    zh = page_factory("zh-CN")
    login(zh, hub, username)
    zh.goto(f"{hub.url}/hub/spawn")
    expect(zh.locator("h1")).to_have_text("服务器选项")
    expect(zh.locator(".npuhub-card").first).to_contain_text("当前空闲 NPU：")
    expect(zh.locator("label[for=npus]")).to_have_text("NPU 数量")
    expect(zh.locator("#spawn_form button[type=submit]")).to_have_text("启动")
    assert "Server Options" not in zh.content()

    en = page_factory("en-US")
    login(en, hub, username)
    en.goto(f"{hub.url}/hub/spawn")
    expect(en.locator("h1")).to_have_text("Server Options")
    expect(en.locator(".npuhub-card").first).to_contain_text("NPUs free now:")
    expect(en.locator("#spawn_form button[type=submit]")).to_have_text("Start")


def test_login_page_follows_accept_language(hub, page_factory, username):
    hub.create_user(username)
    zh = page_factory("zh-CN")
    zh.goto(f"{hub.url}/hub/login")
    expect(zh.locator(".auth-form-header h1")).to_have_text("登录")
    expect(zh.locator("label[for=username_input]")).to_have_text("用户名：")
    expect(zh.locator("#login_submit")).to_have_value("登录")
    # an account not activated yet cannot be signed into (no password can claim it);
    # the refusal, like a wrong password later, is said in Chinese
    zh.fill("#username_input", username)
    zh.fill("#password_input", "a password of my own")
    zh.click("#login_submit")
    expect(zh.locator(".login_error")).to_have_text("用户名或密码错误")
    login(zh, hub, username)  # activates through its one-time link, then signs in
    zh.goto(f"{hub.url}/hub/home")
    expect(zh.locator("#start")).to_have_text("启动我的服务器")
    expect(zh.locator(".navbar")).to_contain_text("首页")
    expect(zh.locator("#logout")).to_have_text("退出登录")
    zh.goto(f"{hub.url}/hub/spawn")
    expect(zh.locator("#logout")).to_have_text("退出登录")
    zh.context.clear_cookies()
    zh.goto(f"{hub.url}/hub/login")
    zh.fill("#username_input", username)
    zh.fill("#password_input", "not the password")
    zh.click("#login_submit")
    expect(zh.locator(".login_error")).to_have_text("用户名或密码错误")

    en = page_factory("en-US")
    en.goto(f"{hub.url}/hub/login")
    expect(en.locator(".auth-form-header h1")).to_have_text("Sign in")
    expect(en.locator("#login_submit")).to_have_value("Sign in")
    assert "登录" not in en.content()
    login(en, hub, username)
    en.goto(f"{hub.url}/hub/home")
    expect(en.locator("#start")).to_have_text("Start My Server")
    expect(en.locator("#logout")).to_have_text("Logout")


def test_refusal_is_shown_in_chinese(hub, page_factory, username):
    hub.create_user(username)
    zh = page_factory("zh-CN")
    login(zh, hub, username)
    zh.goto(f"{hub.url}/hub/spawn")
    # a tampered form (npus the profile does not offer) is refused in the user's language
    zh.evaluate("document.querySelector('#npus').add(new Option('3', '3', true, true))")
    zh.click("#spawn_form button[type=submit]")
    expect(zh.locator(".spawn-error-msg")).to_contain_text("不提供 npus=3")


def test_sign_in_start_two_npus_and_land_in_jupyterlab(hub, page, username):
    hub.create_user(username)
    page.add_init_script(RECORD_PROGRESS)
    login(page, hub, username)
    page.goto(f"{hub.url}/hub/spawn")
    card = page.locator(".npuhub-card[data-profile=base]")
    expect(card).to_contain_text("JupyterLab")
    expect(card).to_contain_text("npuhub/base:latest")
    free = int(re.search(r"NPUs free now: (\d+)", card.inner_text()).group(1))
    assert free >= 2, f"the page shows {free} free NPUs"
    card.click()
    page.select_option("#npus", "2")
    page.click("#spawn_form button[type=submit]")

    page.wait_for_url(re.compile(rf".*/user/{username}/lab.*"), timeout=180_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('npuhub-progress') || '[]')")
    assert "Allocating NPUs…" in seen, seen
    assert "Starting your container with 2 NPUs…" in seen, seen
    env = hub.container(username).attrs["Config"]["Env"]
    assert "NPUHUB_NPUS=2" in env
    hub.stop_server(username)


def test_quota_refusal_reads_in_the_page_language(hub, page_factory, username):
    """The ledger's refusal (a code and its numbers) on the hub's page, said in the
    browser's language."""
    group = "q" + username[-8:]
    hub.create_user(username, groups=[group])
    r = hub.request("PUT", f"/quotas/{group}", base=hub.service,
                    json={"max_npus_per_server": 1})  # fmt: skip
    assert r.status_code == 200, r.text
    zh = page_factory("zh-CN")
    login(zh, hub, username)
    zh.goto(f"{hub.url}/hub/spawn")
    zh.evaluate("document.querySelector('#npus').add(new Option('2', '2', true, true))")
    zh.click("#spawn_form button[type=submit]")
    expect(zh.locator("body")).to_contain_text(
        f"您申请了 2 个 NPU；组 {group} 每个服务器最多允许 1 个", timeout=60_000)
