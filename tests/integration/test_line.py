"""The line for NPUs through the real stack (JupyterHub, NPUSpawner, the platform
service's scheduler, Docker with simulated NPUs): a server request that cannot be placed
waits with a position and an estimated start, starts by itself when NPUs come free, and
can leave the line; `wait: false` is refused at once as before."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.hubclient import Hub

pytestmark = pytest.mark.integration
BASE = {"profile": "base", "npus": 1}


def users(hub: Hub, n: int) -> list[str]:
    names = ["q" + uuid.uuid4().hex[:8] for _ in range(n)]
    for name in names:
        hub.create_user(name)
    return names


def queue(hub: Hub) -> list[dict]:
    r = hub.request("GET", "/queue", base=hub.service)
    assert r.status_code == 200, r.text
    return r.json()


def me(hub: Hub, token: str) -> dict:
    r = hub.request("GET", "/me", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    return r.json()


def until(what, check, timeout: float = 60, every: float = 0.3):
    """Poll `check()` until it answers something true; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        time.sleep(every)


def progress_until(hub: Hub, name: str, needle: str, lang: str, timeout: float = 60) -> str:
    """The first progress message of `name`'s pending spawn (the spawn page's event
    stream) that contains `needle`."""
    url = f"{hub.api}/users/{name}/server/progress"
    headers = {"Authorization": f"token {hub.admin_token}", "Accept-Language": lang}
    deadline = time.monotonic() + timeout
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                message = json.loads(line[5:]).get("message", "")
                if needle in message:
                    return message
            assert time.monotonic() < deadline, f"no progress message with {needle!r}"
    raise AssertionError(f"the progress stream of {name} ended without {needle!r}")


def test_a_full_host_puts_servers_in_line_and_starts_them_by_themselves(hub):
    assert all(d["holder"] is None for d in hub.request(
        "GET", "/devices", base=hub.service).json()), "test needs all 8 NPUs free"
    names = users(hub, 11)
    running, ninth, tenth, hasty = names[:8], names[8], names[9], names[10]
    pool = ThreadPoolExecutor(4)
    try:
        with ThreadPoolExecutor(8) as starters:
            answers = list(starters.map(lambda n: hub.spawn(n, options=BASE, wait=False), running))
        assert all(r.status_code in (201, 202) for r in answers), [r.text for r in answers]
        for n in running:
            hub.wait_ready(n)

        # a request that may not wait is refused at once, as before
        r = hub.spawn(hasty, options={**BASE, "wait": False}, wait=False)
        assert r.status_code == 503, r.text
        assert "All 8 NPUs are in use" in r.json()["message"]
        assert hasty not in [e["user"] for e in queue(hub)]

        # the ninth and the tenth wait, in the order they came
        ninth_post = pool.submit(hub.spawn, ninth, options=BASE, wait=False)
        until("the ninth in the line", lambda: [e for e in queue(hub) if e["user"] == ninth])
        tenth_post = pool.submit(_spawn_zh, hub, tenth)
        line = until("two in the line", lambda: (q := queue(hub)) and len(q) == 2 and q)
        assert [(e["position"], e["kind"], e["user"], e["npus"]) for e in line] == [
            (1, "server", ninth, 1), (2, "server", tenth, 1)]
        assert all(e["estimated_start"] and e["submitted"] for e in line)
        assert line[0]["estimated_start"] <= line[1]["estimated_start"]
        assert ninth_post.result().status_code == 202  # pending, not refused
        assert tenth_post.result().status_code == 202

        # each sees their own place (/me), and the spawn page says it in their language
        t9, t10 = hub.user_token(ninth), hub.user_token(tenth)
        mine = until("the ninth's place in /me", lambda: me(hub, t9)["line"])
        assert (mine["position"], mine["kind"], mine["npus"]) == (1, "server", 1)
        assert mine["estimated_start"]
        assert until("the tenth's place", lambda: me(hub, t10)["line"])["position"] == 2
        assert me(hub, hub.user_token(running[0]))["line"] is None
        said = progress_until(hub, ninth, "position 1 in the line", "en")
        assert said.startswith("Waiting for 1 NPU: position 1 in the line, estimated start ")
        assert "UTC" in said
        assert "排队第 2 位" in progress_until(hub, tenth, "排队第 2 位", "zh-CN")

        # the administrators' table
        cli = [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
               "--state-dir", str(hub.state_dir), "queue"]
        table = subprocess.run(cli, check=True, capture_output=True, text=True).stdout
        rows = [r.split() for r in table.splitlines() if ninth in r or tenth in r]
        assert [(r[0], r[1], r[2]) for r in rows] == [("1", "server", ninth),
                                                      ("2", "server", tenth)], table
        assert "estimated start" in table and "waiting since" in table

        # one server stops: the ninth starts by itself, the tenth moves up
        hub.stop_server(running[0])
        hub.wait_ready(ninth, timeout=120)
        assert me(hub, t9)["line"] is None
        assert until("the tenth first", lambda: me(hub, t10)["line"]["position"] == 1)
        assert [e["user"] for e in queue(hub)] == [tenth]

        # the tenth leaves the line (Stop on the spawn page): gone from it, holds nothing
        hub.stop_server(tenth)
        assert queue(hub) == []
        assert until("the tenth out of the line", lambda: me(hub, t10)["line"] is None)
        held = [d for d in hub.request("GET", "/devices", base=hub.service).json() if d["holder"]]
        assert tenth not in [d["holder"]["user"] for d in held]
        assert sorted(d["holder"]["user"] for d in held) == sorted(running[1:] + [ninth])
    finally:
        pool.shutdown(wait=True)
        with ThreadPoolExecutor(8) as stoppers:
            list(stoppers.map(_stop_quietly(hub), names))


def _spawn_zh(hub: Hub, name: str):
    """Start `name`'s server from a browser that prefers Chinese."""
    return requests.post(
        f"{hub.api}/users/{name}/server", json=BASE, timeout=60,
        headers={"Authorization": f"token {hub.admin_token}", "Accept-Language": "zh-CN"},
    )


def _stop_quietly(hub: Hub):
    def stop(name: str) -> None:
        model = hub.request("GET", f"/users/{name}").json()
        if "" in (model.get("servers") or {}):
            hub.stop_server(name)
    return stop
