"""The operators' view against the real stack: the operators' page (/hub/operators) for
admins in both languages (devices with their holders, the line, user overrides; 403 for
others; JupyterHub's admin page still there), and a session's record of what it runs on
(image digest, devices) read from its own server and from its usage record."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.hubclient import run_code
from tests.integration.test_jobs import new_user, submit

pytestmark = pytest.mark.integration


def npuhub(hub, *args):
    env = dict(os.environ, NPUHUB_PORT=str(hub.port))
    return subprocess.run(
        [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
         "--state-dir", str(hub.state_dir), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def admin_session(hub):
    return hub.login("admin", (hub.state_dir / "admin.password").read_text().strip())


def held_by(hub, user) -> list[dict]:
    r = hub.request("GET", "/devices", base=hub.service)
    assert r.status_code == 200, r.text
    return [d for d in r.json() if d["holder"] and d["holder"]["user"] == user]


@pytest.fixture(scope="module")
def holder(hub):
    """A user holding 1 NPU in a server, limited to 1 NPU, with a job waiting for it."""
    user, token = new_user(hub)
    hub.spawn(user, token=token, options={"profile": "base", "npus": 1})
    r = npuhub(hub, "quota", "set", "--user", user, "--max-npus", "1")
    assert r.returncode == 0, r.stderr
    job = submit(hub, token, source="never.py", npus=1)
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    deadline = time.monotonic() + 120  # the scheduler looks at it and finds no quota left
    while time.monotonic() < deadline:
        j = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service).json()
        if j["reason"]:
            break
        time.sleep(0.3)
    yield user, token, job_id
    hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    hub.stop_server(user)


def row_of(html: str, table_id: str, text: str) -> str:
    table = html[html.index(f'id="{table_id}"'):]
    table = table[: table.index("</table>")]
    return next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", table, re.S) if text in r)


def test_operators_page_for_admins_in_both_languages(hub, holder):
    user, _, job_id = holder
    (device,) = held_by(hub, user)
    s = admin_session(hub)
    page = s.get(f"{hub.url}/hub/operators", timeout=60)
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Operations</h1>" in html
    row = row_of(html, f"devices-{device['node']}", f"{user}: server")
    assert f"<td>{device['index']}</td>" in row and "<td>held</td>" in row
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", row)  # since
    assert re.search(r"\d+ devices: [1-9]\d* held, ", html)
    line = row_of(html, "line", f"job {job_id}")
    assert f"<td>{user}</td>" in line and "quota" in line
    override = row_of(html, "overrides", f"<td>{user}</td>")
    assert override.count("<td>1</td>") == 1  # NPUs per user
    for link in ('href="/hub/usage?period=day"', 'href="/hub/admin"'):
        assert link in html
    assert 'href="/hub/operators"' in html  # in the navigation bar, beside Admin

    zh = s.get(f"{hub.url}/hub/operators", headers={"Accept-Language": "zh-CN"}, timeout=60)
    assert zh.status_code == 200
    assert "<h1>运维</h1>" in zh.text and "按用户的覆盖设置" in zh.text
    row = row_of(zh.text, f"devices-{device['node']}", f"{user}: 服务器")
    assert "<td>占用</td>" in row
    assert f"任务 {job_id}" in row_of(zh.text, "line", f"<td>{user}</td>")
    # JupyterHub's own admin page keeps working
    assert s.get(f"{hub.url}/hub/admin", timeout=60).status_code == 200


def test_operators_page_refuses_others(hub, holder):
    user, _, _ = holder
    s = hub.login(user, "member password 1")
    assert s.get(f"{hub.url}/hub/operators", timeout=60).status_code == 403
    home = s.get(f"{hub.url}/hub/home", timeout=60).text
    assert 'href="/hub/operators"' not in home and 'href="/hub/usage"' in home


def test_cli_devices_names_the_holder(hub, holder):
    user, _, _ = holder
    r = npuhub(hub, "devices")
    assert r.returncode == 0, r.stderr
    (row,) = [line for line in r.stdout.splitlines() if f"{user}: server" in line]
    assert " held " in row
    assert re.fullmatch(r"\d+ devices: \d+ held(, \d+ \w+)*", r.stdout.splitlines()[-1])


def test_session_records_its_image_digest_and_devices(hub, holder, tmp_root):
    user, token, _ = holder
    (device,) = held_by(hub, user)
    r = hub.request("GET", "/me/session", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    prov = r.json()
    # the digest of the image the container runs (npuhub/base:latest may have moved on)
    digest = hub.container(user).attrs["Image"]
    assert digest.startswith("sha256:")
    assert prov["image"] == {"reference": "npuhub/base:latest", "digest": digest}
    assert prov["devices"] == [{"node": device["node"], "index": device["index"]}]
    assert prov["node"] == device["node"] and prov["kind"] == "session" and prov["server"] == ""
    assert "npu_driver" in prov and "cann" in prov  # None here: no Ascend driver on this host

    # the server itself reads it with its own token (what session.provenance() sends)
    code = (
        "import os, json, urllib.request\n"
        "req = urllib.request.Request(os.environ['NPUHUB_API_URL'] + '/me/session?server=',"
        " headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']})\n"
        "print(json.dumps(json.load(urllib.request.urlopen(req))))\n"
    )
    assert json.loads(run_code(hub, user, token, code)) == prov

    # and it is on the usage record
    from npuhub.hub.platform import platform_for

    ledger = platform_for(f"sqlite:///{hub.state_dir / 'npuhub.sqlite'}").ledger
    assert [a["holder"] for a in ledger.usage.active(user=user, kind="server")] == [""]
    assert ledger.usage.provenance(user, "server", "") == prov

    # a server that does not run has no record to show: a refusal in both languages
    none = hub.request("GET", "/me/session?server=nope", token=token, base=hub.service)
    assert none.status_code == 404 and none.json()["error"] == "no_session"
    zh = requests.get(f"{hub.service}/me/session?server=nope", timeout=60,
                      headers={"Authorization": f"token {token}", "Accept-Language": "zh-CN"})
    assert "服务器：nope" in zh.json()["message"]

    # a dataset mounted during the session joins its record, with its version
    name = "op" + uuid.uuid4().hex[:6]
    folder = tmp_root / f"data-{name}"
    folder.mkdir(mode=0o755)
    (folder / "a.txt").write_text("a")
    r = hub.request("POST", "/datasets", base=hub.service,
                    json={"name": name, "source": str(folder), "version": "2025.1"})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    r = hub.request("POST", f"/datasets/{name}/mount", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    after = hub.request("GET", "/me/session", token=token, base=hub.service).json()
    assert [(d["name"], d["version"]) for d in after["datasets"]] == [(name, "2025.1")]
    assert after["image"] == prov["image"] and after["devices"] == prov["devices"]
