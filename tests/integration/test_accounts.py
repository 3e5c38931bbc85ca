"""Accounts are never claimable, against a real `npuhub up`: a new account (admin ones
too) has no password until its one-time activation link is used; the link works once,
expires, and is replaced by a new one; changing a password needs the current one;
repeated failed logins slow down. Pages in English and Chinese."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from tests.hubclient import REPO, use_link

pytestmark = pytest.mark.integration
LINK = re.compile(r"(http://\S+/hub/activate\?token=[\w-]+)")


def try_login(hub, name: str, password: str) -> requests.Response:
    s = requests.Session()
    s.get(f"{hub.url}/hub/login", timeout=30)
    return s.post(f"{hub.url}/hub/login?next=", allow_redirects=False, timeout=30,
                  data={"username": name, "password": password,
                        "_xsrf": s.cookies.get("_xsrf")})


def cli(hub, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NPUHUB_PORT=str(hub.port))
    return subprocess.run(
        [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
         "--state-dir", str(hub.state_dir), *args],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO)


def test_cli_user_add_shows_a_link_that_works_once(hub, username):
    r = cli(hub, "user", "add", username, "--admin")
    assert r.returncode == 0, r.stderr
    url = LINK.search(r.stdout).group(1)
    assert "shown once" in r.stdout
    assert hub.request("GET", f"/users/{username}").json()["admin"]
    # before activation nobody gets in, whatever the password
    for guess in ("", "password", "correct horse battery"):
        assert try_login(hub, username, guess).status_code == 403
    page = requests.get(url, timeout=30)
    assert page.status_code == 200 and username in page.text
    assert "Activate your account" in page.text
    assert use_link(url, "correct horse battery", "a different one").status_code == 400
    done = use_link(url, "correct horse battery")  # a refused try does not spend the link
    assert done.status_code == 200 and f"Your account {username} is active" in done.text
    assert try_login(hub, username, "correct horse battery").status_code == 302
    # once: the link is spent, the password stays
    again = use_link(url, "someone else's choice")
    assert again.status_code == 404 and "used already" in again.text
    assert try_login(hub, username, "someone else's choice").status_code == 403
    assert try_login(hub, username, "correct horse battery").status_code == 302
    # the account is active: `user add` again says so and shows no link
    r = cli(hub, "user", "add", username)
    assert r.returncode == 0 and "exists and is active" in r.stdout and not LINK.search(r.stdout)


def test_rest_created_account_expired_and_replaced_links(hub, username):
    hub.create_user(username)  # the REST API, as the admin page does
    assert try_login(hub, username, "anything goes").status_code == 403
    first = hub.activation_link(username).json()["url"]
    short = hub.activation_link(username, expires_in=1)
    assert short.status_code == 201, short.text
    assert requests.get(first, timeout=30).status_code == 404  # replaced by the new link
    time.sleep(1.5)
    r = use_link(short.json()["url"], "correct horse battery")
    assert r.status_code == 410 and "has expired" in r.text
    zh = requests.get(short.json()["url"], headers={"Accept-Language": "zh-CN"}, timeout=30)
    assert zh.status_code == 410 and "此激活链接已过期" in zh.content.decode()
    assert try_login(hub, username, "correct horse battery").status_code == 403
    # a new link on request
    assert hub.activate(username, "correct horse battery")
    assert try_login(hub, username, "correct horse battery").status_code == 302
    r = hub.activation_link(username)
    assert r.status_code == 409 and "already activated" in r.json()["message"]
    assert hub.activation_link(username, expires_in=10**9).status_code == 400
    assert hub.activation_link("nobody-" + username).status_code == 404
    # an ordinary user may not hand out links, not even their own
    token = hub.user_token(username)
    assert hub.activation_link(username, token=token, reset=True).status_code == 403


def test_changing_a_password_needs_the_current_one(hub, username):
    hub.create_user(username)
    s = hub.login(username, "first password!")
    url = f"{hub.url}/hub/auth/change-password"
    page = s.get(url, timeout=30)
    assert page.status_code == 200 and "Current password" in page.text
    xsrf = s.cookies["_xsrf"]
    for old in ("", "not my password"):
        r = s.post(url, timeout=30, data={"old_password": old, "password": "taken over!",
                                          "password_confirm": "taken over!", "_xsrf": xsrf})
        assert r.status_code == 403 and "current password is wrong" in r.text
    r = s.post(url, timeout=30, data={"old_password": "first password!", "password":
                                      "second password", "password_confirm":
                                      "second password", "_xsrf": xsrf})
    assert r.status_code == 200 and "Your password has been changed" in r.text
    assert try_login(hub, username, "second password").status_code == 302
    assert try_login(hub, username, "first password!").status_code == 403
    zh = s.get(url, headers={"Accept-Language": "zh-CN"}, timeout=30)
    assert "修改密码" in zh.content.decode() and "当前密码" in zh.content.decode()


def test_repeated_failed_logins_slow_down(hub, username):
    hub.create_user(username)
    hub.activate(username, "correct horse battery")
    for _ in range(3):
        assert try_login(hub, username, "guess").status_code == 403
    r = try_login(hub, username, "correct horse battery")  # even the right one waits
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "Too many failed attempts" in r.text
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert try_login(hub, username, "correct horse battery").status_code == 302


def test_login_page_says_how_new_accounts_start(hub):
    page = requests.get(f"{hub.url}/hub/login", headers={"Accept-Language": "zh-CN"},
                        timeout=30)
    assert "请打开您收到的激活链接" in page.content.decode()  # served without a charset
