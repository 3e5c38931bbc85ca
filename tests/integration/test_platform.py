"""The foundation, against the real stack: npuhub up, JupyterHub, proxy, Docker."""

from __future__ import annotations

import pytest
import requests

from tests.hubclient import run_code

pytestmark = pytest.mark.integration


def test_service_health_openapi_and_me(hub, username):
    assert requests.get(f"{hub.service}/health", timeout=10).json() == {"status": "ok"}
    spec = requests.get(f"{hub.service}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert "/me" in spec["paths"] and "/devices" in spec["paths"]
    hub.create_user(username)
    token = hub.user_token(username)
    me = hub.request("GET", "/me", token=token, base=hub.service)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == username
    # no token, a bad token: refused, and the body never echoes the token
    assert requests.get(f"{hub.service}/me", timeout=10).status_code == 401
    bad = hub.request("GET", "/me", token="not-a-token-123", base=hub.service)
    assert bad.status_code == 403 and "not-a-token-123" not in bad.text


def test_state_dir_secrets_are_private(hub):
    for name in ("admin.token", "admin.password", "proxy.token"):
        mode = (hub.state_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_login_spawn_and_run_code(hub, username):
    hub.create_user(username)
    # first login sets the password; a wrong one is refused afterwards
    session = hub.login(username, "correct horse battery")
    r = session.get(f"{hub.url}/hub/api/user", headers={"X-XSRFToken": session.cookies["_xsrf"]})
    assert r.status_code == 200 and r.json()["name"] == username
    with pytest.raises(AssertionError):
        hub.login(username, "wrong password!")
    token = hub.user_token(username)
    r = hub.spawn(username, token=token)
    assert r.status_code in (201, 202), r.text
    assert run_code(hub, username, token, "1+1").strip() == "2"
    # JupyterLab does not ask each new user whether to fetch Jupyter news: the platform
    # decided (the image's lab settings overrides)
    r = requests.get(
        f"{hub.url}/user/{username}/lab/api/settings/@jupyterlab/apputils-extension:notification",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["schema"]["properties"]["fetchNews"]["default"] == "false"


def test_container_hardening_and_allowed_images(hub, username):
    hub.create_user(username)
    token = hub.user_token(username)
    refused = hub.spawn(username, token=token, options={"image": "debian:bookworm"}, wait=False)
    assert refused.status_code == 400, refused.text
    assert "not allowed" in refused.json()["message"]
    hub.spawn(username, token=token, options={"profile": "base"})
    c = hub.container(username)
    attrs = c.attrs
    assert attrs["Config"]["User"] == "1000:100"
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in attrs["HostConfig"]["SecurityOpt"]
    assert attrs["HostConfig"]["PidsLimit"] > 0 and attrs["HostConfig"]["Memory"] > 0
    out = run_code(hub, username, token, "import os; print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])")
    assert out.split() == ["1000", "0000000000000000"]


def test_home_survives_server_and_hub_restart(hub, username):
    hub.create_user(username)
    token = hub.user_token(username)
    hub.spawn(username, token=token)
    run_code(hub, username, token, "open('/home/jovyan/keep.txt','w').write('kept')")
    hub.stop_server(username)
    hub.spawn(username, token=token)
    assert run_code(hub, username, token, "print(open('/home/jovyan/keep.txt').read())").strip() == "kept"
    before = hub.container(username).id
    hub.restart()
    # the server kept running through the hub restart and is still reachable
    assert hub.container(username).id == before
    assert hub.request("GET", f"/users/{username}").json()["servers"][""]["ready"]
    assert run_code(hub, username, token, "print(open('/home/jovyan/keep.txt').read())").strip() == "kept"


def test_spawn_page_shows_profiles_free_npus_and_quota(hub, username):
    hub.create_user(username)
    session = hub.login(username, "first password!")
    page = session.get(f"{hub.url}/hub/spawn/{username}", timeout=30)
    assert page.status_code == 200
    assert 'name="profile" value="base"' in page.text
    assert 'data-npus="0,1,2,4"' in page.text  # the NPU choices follow the chosen card
    assert "NPUs free now: " in page.text and "(simulated)" in page.text
    assert "Your quota: 4 more NPUs" in page.text


def test_spawn_progress_messages(hub, username):
    import json
    import threading
    import time

    hub.create_user(username)
    # the POST answers only once the server is up (or after 10 s): follow the progress
    # stream while it is still pending
    post = threading.Thread(
        target=hub.spawn, args=(username,), kwargs={"options": {"profile": "base", "npus": 1}, "wait": False}
    )
    post.start()
    events = []
    deadline = time.monotonic() + 60
    while not events and time.monotonic() < deadline:
        with requests.get(
            f"{hub.api}/users/{username}/server/progress",
            headers={"Authorization": f"token {hub.admin_token}"},
            stream=True,
            timeout=120,
        ) as r:
            if r.status_code != 200:  # not pending yet
                time.sleep(0.05)
                continue
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("ready") or events[-1].get("failed"):
                        break
    post.join()
    messages = [e.get("message", "") for e in events]
    assert any("Allocating NPUs" in m for m in messages), messages
    assert any("Starting your container with 1 NPU" in m for m in messages), messages
    assert events[-1].get("ready"), events[-1]
    hub.stop_server(username)


def test_cli_user_add_creates_accounts_in_groups(hub, username):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NPUHUB_PORT=str(hub.port))
    for _ in range(2):  # idempotent
        r = subprocess.run(
            [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
             "--state-dir", str(hub.state_dir), "user", "add", username, "--group", "lab-x"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        assert r.returncode == 0, r.stderr
    model = hub.request("GET", f"/users/{username}").json()
    assert model["groups"] == ["lab-x"] and not model["admin"]
