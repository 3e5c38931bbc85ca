"""The operators' usage reports against the real stack: the hub's usage page (both
languages, admins and members), the REST report as JSON, CSV and PNG, and
`npuhub usage --plot` / `npuhub report` on the platform's own database."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def used(hub):
    """A user in group lab-r who held 1 NPU for a while (a closed usage record)."""
    import uuid

    user = "r" + uuid.uuid4().hex[:8]
    hub.create_user(user, groups=["lab-r"])
    token = hub.user_token(user)
    hub.spawn(user, token=token, options={"profile": "base", "npus": 1, "account": "lab-r"})
    hub.stop_server(user)
    return user, token


def admin_session(hub):
    return hub.login("admin", (hub.state_dir / "admin.password").read_text().strip())


def test_usage_page_for_admins_in_both_languages(hub, used):
    s = admin_session(hub)
    page = s.get(f"{hub.url}/hub/usage?period=day", timeout=60)
    assert page.status_code == 200, page.text
    assert "<h1>NPU usage</h1>" in page.text and 'id="usage-plot"' in page.text
    assert "<td>lab-r</td>" in page.text
    # the top holders are the ten heaviest of the whole platform: the account's own page
    # names its user (this test may run beside others that used more)
    mine = s.get(f"{hub.url}/hub/usage?period=day&account=lab-r", timeout=60)
    assert mine.status_code == 200 and f"<td>{used[0]}</td>" in mine.text
    assert 'src="data:image/png;base64,' in page.text
    zh = s.get(f"{hub.url}/hub/usage?period=day", headers={"Accept-Language": "zh-CN"}, timeout=60)
    assert zh.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>NPU 用量</h1>" in zh.text and "各账户 NPU 小时" in zh.text
    export = s.get(f"{hub.url}/hub/usage?period=day&format=csv", timeout=60)
    assert export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert any(r[:2] == ["account", "lab-r"] and float(r[2]) > 0 for r in rows)


def test_usage_page_for_members_shows_their_own_accounts(hub, used):
    user, _ = used
    s = hub.login(user, "member password 1")
    page = s.get(f"{hub.url}/hub/usage?period=day", timeout=60)
    assert page.status_code == 200 and "<td>lab-r</td>" in page.text
    other = s.get(f"{hub.url}/hub/usage?account=somebody-else", timeout=60)
    assert other.status_code == 403
    assert s.get(f"{hub.url}/hub/usage?since=not-a-date", timeout=60).status_code == 400


def test_rest_report_json_csv_png(hub, used):
    user, token = used
    r = hub.request("GET", "/usage/report?period=day&account=lab-r", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by_account"]["lab-r"] > 0 and body["by_user"][user] == body["by_account"]["lab-r"]
    assert body["utilization"] and body["step_hours"] == 1
    csv_r = hub.request("GET", "/usage/report?period=day&format=csv", base=hub.service)
    assert csv_r.headers["Content-Type"].startswith("text/csv") and "account,lab-r," in csv_r.text
    png = hub.request("GET", "/usage/report?period=week&format=png&lang=zh_CN", base=hub.service)
    assert png.headers["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    denied = hub.request("GET", "/usage/report?account=other", token=token, base=hub.service)
    assert denied.status_code == 403 and "not a member" in denied.json()["message"]
    bad = hub.request("GET", "/usage/report?format=xls", token=token, base=hub.service)
    assert bad.status_code == 400 and "format must be one of" in bad.json()["message"]


def npuhub(hub, *args):
    env = dict(os.environ, NPUHUB_PORT=str(hub.port))
    return subprocess.run(
        [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
         "--state-dir", str(hub.state_dir), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_cli_usage_plot_and_monthly_report(hub, used, tmp_path):
    r = npuhub(hub, "usage", "--period", "day", "--plot", str(tmp_path / "u.png"), "--csv")
    assert r.returncode == 0, r.stderr
    assert "account,lab-r," in r.stdout
    assert (tmp_path / "u.png").read_bytes().startswith(b"\x89PNG")
    assert npuhub(hub, "org", "set", "lab-r", "lab").returncode == 0
    from npuhub.hub import clock

    month = clock.utcnow().strftime("%Y-%m")
    r = npuhub(hub, "report", "--month", month, "--out", str(tmp_path / "m.html"))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "m.html").read_text()
    assert "<td>lab-r</td>" in html and "<td>lab</td>" in html
    bad = npuhub(hub, "report", "--month", "soon", "--out", str(tmp_path / "x.html"))
    assert bad.returncode == 1 and "month must look like 2026-11" in bad.stderr
