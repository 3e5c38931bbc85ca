"""Idle NPUs come back, through the real stack (hub, service, Docker, simulated device
use in STATE/devices/utilization/davinciN): a server whose NPUs read 0% while a batch
job waits for NPUs is warned (/me, the home page in both languages), then stopped with
its files kept, and its NPUs go to the waiting job; a server reading 50% keeps running;
a server without NPUs is stopped by jupyterhub-idle-culler after HTTP inactivity."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.conftest import cleanup, new_hub
from tests.hubclient import Hub, run_code

pytestmark = pytest.mark.integration

CONFIG = (
    "c.NPUHub.watch_interval = 1\n"
    "c.NPUHub.npu_idle_timeout = 3\n"
    "c.NPUHub.npu_idle_grace = 12\n"
    "c.NPUHub.idle_culler_timeout = 6\n"
    "c.NPUHub.idle_culler_every = 1\n"
)


def held(h: Hub, user: str) -> list[int]:
    r = h.request("GET", "/devices", base=h.service)
    assert r.status_code == 200, r.text
    return sorted(d["index"] for d in r.json() if d["holder"] and d["holder"]["user"] == user)


def me(h: Hub, token: str) -> dict:
    r = h.request("GET", "/me", token=token, base=h.service)
    assert r.status_code == 200, r.text
    return r.json()


def running(h: Hub, user: str) -> bool:
    return "" in h.request("GET", f"/users/{user}").json().get("servers", {})


def home(session: requests.Session, h: Hub, lang: str) -> str:
    r = session.get(f"{h.url}/hub/home", headers={"Accept-Language": lang}, timeout=30)
    assert r.status_code == 200, r.status_code
    return r.content.decode("utf-8")


def until(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(message)


def test_idle_npus_are_warned_then_reclaimed_busy_and_culled_servers(tmp_root):
    h = new_hub(tmp_root, extra_config=CONFIG)
    h.start()
    try:
        sim = h.state_dir / "devices" / "utilization"
        sim.mkdir(parents=True, exist_ok=True)
        for i in range(8):  # every device busy until the test says otherwise
            (sim / f"davinci{i}").write_text("50")
        idle, busy, waiter, cpu = ("i" + uuid.uuid4().hex[:8] for _ in range(4))
        for name in (idle, busy, waiter, cpu):
            h.create_user(name)
        idle_token, busy_token = h.user_token(idle), h.user_token(busy)
        browser = h.login(idle, "idle-" + uuid.uuid4().hex)
        h.spawn(busy, options={"profile": "base", "npus": 2})
        h.spawn(idle, options={"profile": "base", "npus": 4})
        h.spawn(cpu, options={"profile": "base", "npus": 0})
        run_code(h, idle, idle_token, "open('/home/jovyan/keep.txt', 'w').write('mine')")
        # a job waits for 4 NPUs: 2 are free
        r = h.request("POST", "/jobs", token=h.user_token(waiter), base=h.service,
                      json={"source": "train.py", "npus": 4})
        assert r.status_code == 201, r.text
        job = f"/jobs/{r.json()['id']}"
        assert h.request("GET", job, base=h.service).json()["state"] == "queued"
        mine = held(h, idle)
        assert len(mine) == 4
        for i in mine:  # absent means 0%
            (sim / f"davinci{i}").unlink()

        warning = until(lambda: [n for n in me(h, idle_token)["idle"] if not n["stopped"]],
                        60, "no idle warning in /me")
        assert warning[0]["npus"] == 4
        assert warning[0]["stop_at"] > warning[0]["idle_since"]
        page, page_zh = home(browser, h, "en"), home(browser, h, "zh-CN")
        assert "npuhub-idle-warning" in page and "unless you use them" in page, page
        assert "如不使用，服务器将于" in page_zh, page_zh

        until(lambda: not running(h, idle), 90, "the idle server was not stopped")
        assert running(h, busy), "the server reading 50% was stopped"
        assert me(h, busy_token)["idle"] == []
        (stopped,) = me(h, idle_token)["idle"]
        assert stopped["stopped"] and stopped["npus"] == 4
        page = home(browser, h, "en")
        assert "npuhub-idle-stopped" in page and "Your files are kept" in page, page
        assert "一直空闲" in home(browser, h, "zh-CN")
        # the idle NPUs went to the waiting job
        until(lambda: h.request("GET", job, base=h.service).json()["state"] != "queued",
              60, "the waiting job did not leave the queue")
        metrics = h.request("GET", "/metrics", base=h.url + "/services/npuhub").text
        assert "npuhub_reclaimed_servers_total 1.0" in metrics, metrics

        # the server without NPUs: stopped by the culler for HTTP inactivity
        until(lambda: not running(h, cpu), 60, "the server without NPUs was not culled")
        assert running(h, busy)

        # a new start: the files are there, the notice is gone
        h.spawn(idle, options={"profile": "base", "npus": 1})
        assert run_code(h, idle, idle_token,
                        "print(open('/home/jovyan/keep.txt').read())").strip() == "mine"
        assert "npuhub-idle-stopped" not in home(browser, h, "en")
    finally:
        h.stop()
        cleanup(h)
