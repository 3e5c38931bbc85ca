"""NPUs through the real stack: the ledger, NPUSpawner and Docker with fake device
nodes (character devices that behave like /dev/null, made by `npuhub up`)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import cleanup, new_hub
from tests.hubclient import Hub, run_code

pytestmark = pytest.mark.integration


def devices(hub: Hub) -> list[dict]:
    r = hub.request("GET", "/devices", base=hub.service)
    assert r.status_code == 200, r.text
    return r.json()


def held_by(hub: Hub, user: str) -> list[int]:
    return sorted(d["index"] for d in devices(hub) if d["holder"] and d["holder"]["user"] == user)


def wait_free(hub: Hub, user: str, timeout: float = 20) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not held_by(hub, user):
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError(f"devices of {user} still held after {timeout}s")


def users(hub: Hub, n: int, groups=()) -> list[str]:
    names = ["n" + uuid.uuid4().hex[:8] for _ in range(n)]
    for name in names:
        hub.create_user(name, groups=groups)
    return names


def test_two_npus_bound_and_isolated(hub):
    alice, bob = users(hub, 2)
    hub.spawn(alice, options={"profile": "base", "npus": 2})
    hub.spawn(bob, options={"profile": "base", "npus": 1})
    try:
        mine, theirs = held_by(hub, alice), held_by(hub, bob)
        assert len(mine) == 2 and len(theirs) == 1 and not set(mine) & set(theirs)
        token = hub.user_token(alice)
        listing = run_code(hub, alice, token, "import os; print(sorted(n for n in os.listdir('/dev') if n.startswith(('davinci','devmm','hisi'))), os.environ['ASCEND_VISIBLE_DEVICES'], os.environ['NPUHUB_NPUS'])")
        names, visible, count = listing.rsplit(" ", 2)
        assert eval(names) == sorted([f"davinci{i}" for i in mine] + ["davinci_manager", "devmm_svm", "hisi_hdc"])  # noqa: S307
        assert visible == ",".join(map(str, mine)) and count.strip() == "2"
        # the other user's container sees only its own chip
        out = run_code(hub, bob, hub.user_token(bob), "import os; print(sorted(n for n in os.listdir('/dev') if n.startswith('davinci') and n[7:].isdigit()))")
        assert eval(out) == [f"davinci{theirs[0]}"]  # noqa: S307
        # the device nodes work like the real ones would be opened
        assert run_code(hub, alice, token, f"open('/dev/davinci{mine[0]}','rb').read()").strip() == "b''"
    finally:
        hub.stop_server(alice)
        hub.stop_server(bob)
    assert held_by(hub, alice) == [] and held_by(hub, bob) == []


def test_kill_frees_devices_within_a_poll(hub):
    (carol,) = users(hub, 1)
    hub.spawn(carol, options={"profile": "base", "npus": 2})
    assert len(held_by(hub, carol)) == 2
    hub.container(carol).kill()
    waited = wait_free(hub, carol, timeout=15)  # poll_interval is 2 s in the test config
    assert waited < 15


def test_capacity_quota_budget_and_account_refusals(hub):
    (dave,) = users(hub, 1)
    r = hub.spawn(dave, options={"profile": "base", "npus": 3}, wait=False)
    assert r.status_code == 400 and "npus=3 is not offered" in r.json()["message"]
    # a group with a per-server cap and a spent budget
    group = "g" + uuid.uuid4().hex[:6]
    (erin,) = users(hub, 1, groups=[group])
    r = hub.request("PUT", f"/quotas/{group}", base=hub.service, json={"max_npus_per_server": 1})
    assert r.status_code == 200, r.text
    r = hub.spawn(erin, options={"profile": "base", "npus": 2}, wait=False)
    assert r.status_code == 403 and "at most 1" in r.json()["message"], r.text
    hub.request("PUT", f"/quotas/{group}", base=hub.service, json={"npu_hours": 0, "period": "week"})
    r = hub.spawn(erin, options={"profile": "base", "npus": 1}, wait=False)
    assert r.status_code == 403 and "NPU-hours" in r.json()["message"] and "resets" in r.json()["message"], r.text
    # an account that is not one of the user's groups
    r = hub.spawn(erin, options={"profile": "base", "npus": 1, "account": "someone-else"}, wait=False)
    assert r.status_code == 400 and "account must be one of your groups" in r.json()["message"]
    # bad input is refused by field
    r = hub.spawn(erin, options={"profile": "nope"}, wait=False)
    assert r.status_code == 400 and "profile" in r.json()["message"]


def test_drained_devices_never_handed_out(hub):
    all_idx = [d["index"] for d in devices(hub)]
    node = devices(hub)[0]["node"]
    drained = [i for i in all_idx if i != 5]
    cli = [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
           "--state-dir", str(hub.state_dir), "devices"]
    for i in drained:
        subprocess.run([*cli, "drain", f"{node}:{i}"], check=True, capture_output=True)
    try:
        (fay,) = users(hub, 1)
        r = hub.spawn(fay, options={"profile": "base", "npus": 2}, wait=False)
        assert r.status_code == 503, r.text
        assert "NPU" in r.json()["message"]
        hub.spawn(fay, options={"profile": "base", "npus": 1})
        assert held_by(hub, fay) == [5]
        table = subprocess.run(cli, check=True, capture_output=True, text=True).stdout
        assert "drained" in table and "simulated" in table and fay in table
        hub.stop_server(fay)
    finally:
        for i in drained:
            subprocess.run([*cli, "undrain", f"{node}:{i}"], check=True, capture_output=True)


def twelve_for_eight(hub: Hub) -> None:
    assert all(d["holder"] is None for d in devices(hub)), "test needs all 8 NPUs free"
    names = users(hub, 12)
    with ThreadPoolExecutor(12) as pool:
        # wait: false: refused at once rather than waiting in the line (tests/integration/test_line.py)
        answers = list(pool.map(lambda n: hub.spawn(n, options={"profile": "base", "npus": 1, "wait": False}, wait=False), names))
    started = [n for n, r in zip(names, answers, strict=True) if r.status_code in (201, 202)]
    refused = [r for r in answers if r.status_code >= 400]
    try:
        assert len(started) == 8 and len(refused) == 4, [r.status_code for r in answers]
        for r in refused:
            assert r.status_code == 503 and "All 8 NPUs are in use" in r.json()["message"], r.text
        for n in started:
            hub.wait_ready(n)
        held = [d for d in devices(hub) if d["holder"]]
        assert len(held) == 8
        assert sorted(d["holder"]["user"] for d in held) == sorted(started)
        # the containers got distinct chips
        seen = []
        for n in started:
            env = dict(e.split("=", 1) for e in hub.container(n).attrs["Config"]["Env"])
            seen.append(env["ASCEND_VISIBLE_DEVICES"])
        assert len(set(seen)) == 8
    finally:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(hub.stop_server, started))


def test_twelve_spawns_for_eight_npus_sqlite(hub):
    twelve_for_eight(hub)


@pytest.mark.postgres
def test_twelve_spawns_for_eight_npus_postgres(tmp_root, postgres_url):
    from tests.conftest_db import postgres_database

    with postgres_database(postgres_url) as url:
        h = new_hub(tmp_root, extra_config=f"c.NPUHub.db_url = {url!r}\n")
        h.start()
        try:
            twelve_for_eight(h)
        finally:
            h.stop()
            cleanup(h)


def test_hub_restart_keeps_running_servers_and_their_devices(hub):
    gus, hal, ivy = users(hub, 3)
    hub.spawn(gus, options={"profile": "base", "npus": 2})
    hub.spawn(hal, options={"profile": "base", "npus": 2})
    before = {gus: held_by(hub, gus), hal: held_by(hub, hal)}
    hub.restart()
    try:
        for u in (gus, hal):
            assert hub.container(u).status == "running"
            assert held_by(hub, u) == before[u]
        hub.spawn(ivy, options={"profile": "base", "npus": 2})
        assert not set(held_by(hub, ivy)) & (set(before[gus]) | set(before[hal]))
    finally:
        for u in (gus, hal, ivy):
            hub.stop_server(u)


def test_reconcile_releases_vanished_servers_and_keeps_running_ones(hub):
    import asyncio

    from npuhub.hub.hubapi import AsyncHubAPI
    from npuhub.hub.ledger.reconcile import reconcile_once
    from npuhub.hub.platform import platform_for

    (kim,) = users(hub, 1)
    hub.spawn(kim, options={"profile": "base", "npus": 1})
    ledger = platform_for(f"sqlite:///{hub.state_dir / 'npuhub.sqlite'}").ledger
    ghost = ledger.allocate(user="ghost", groups=[], kind="server", holder="", npus=1)
    try:
        released = asyncio.run(
            reconcile_once(ledger, AsyncHubAPI(hub.api, hub.admin_token), grace_seconds=0)
        )
        assert released == [ghost.allocation_id]
        assert len(held_by(hub, kim)) == 1
        assert held_by(hub, "ghost") == []
    finally:
        hub.stop_server(kim)


def test_spent_budget_stops_running_server_and_job_after_grace(tmp_root):
    """A group's budget runs out while its server and a batch job run: warned, then the
    server is stopped (files kept) and the job cancelled, saying why."""
    h = new_hub(tmp_root, extra_config="c.NPUHub.watch_interval = 1\nc.NPUHub.budget_grace_seconds = 4\n")
    h.start()
    try:
        group = "budget" + uuid.uuid4().hex[:4]
        (lee,) = users(h, 1, groups=[group])
        # 0.02 NPU-hours = 72 NPU-seconds: spent some 25 s after a server with 2 NPUs and
        # a job with 1 start
        r = h.request("PUT", f"/quotas/{group}", base=h.service, json={"npu_hours": 0.02, "period": "day"})
        assert r.status_code == 200, r.text
        token = h.user_token(lee)
        h.spawn(lee, options={"profile": "base", "npus": 2})
        run_code(
            h, lee, token,
            "open('/home/jovyan/work.txt','w').write('mine')\n"
            "open('/home/jovyan/sleep.py','w').write('import time\\ntime.sleep(300)\\n')",
        )
        r = h.request("POST", "/jobs", token=token, base=h.service,
                      json={"source": "sleep.py", "npus": 1})
        assert r.status_code == 201, r.text
        job_url = f"/jobs/{r.json()['id']}"
        deadline = time.monotonic() + 60
        while h.request("GET", job_url, token=token, base=h.service).json()["state"] != "running":
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.3)
        warned = set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            me = h.request("GET", "/me", token=token, base=h.service).json()
            warned.update(me.get("warnings") or [])
            job = h.request("GET", job_url, token=token, base=h.service).json()
            if "" not in h.request("GET", f"/users/{lee}").json()["servers"] and (
                job["state"] == "cancelled"
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the server or the job was not stopped: {job}")
        assert any("NPU-hours" in w and "server will be stopped" in w for w in warned), warned
        assert any("will be cancelled" in w for w in warned), warned
        assert "NPU-hours" in job["reason"], job
        wait_free(h, lee)  # the job's end is recorded, then its container removed and released
        r = h.spawn(lee, options={"profile": "base", "npus": 1}, wait=False)
        assert r.status_code == 403 and "NPU-hours" in r.json()["message"]
        h.spawn(lee, options={"profile": "base", "npus": 0})
        assert run_code(h, lee, token, "print(open('/home/jovyan/work.txt').read())").strip() == "mine"
    finally:
        h.stop()
        cleanup(h)
