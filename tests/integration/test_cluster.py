"""Cluster mode against the real three-node Slurm cluster (scripts/start-slurm: slurmctld,
slurmd n1, n2, n3 with 4 fake NPUs each): every user server is a Slurm job."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

import docker
import pytest

from tests.hubclient import run_code
from tests.integration.test_line import progress_until
from tests.slurm_fixture import cluster_dir, slurm_env, start_slurm

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def scontrol_job(hub, name: str) -> dict:
    env = slurm_env(hub.slurm["slurm_conf"])
    out = subprocess.run(["squeue", "-h", "-n", f"{hub.prefix}-{name}--", "-o", "%i"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 1, out
    line = subprocess.run(["scontrol", "-o", "-d", "show", "job", out[0]], env=env,
                          capture_output=True, text=True, check=True).stdout
    fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
    fields["id"] = out[0]
    return fields


def granted(fields: dict) -> list[int]:
    from npuhub.hub.jobs.slurm import npu_indices

    return npu_indices(fields["GRES"])


def ledger_devices(hub, user: str) -> list[list]:
    con = sqlite3.connect(hub.state_dir / "npuhub.sqlite")
    try:
        rows = con.execute(
            "SELECT a.devices, (SELECT group_concat(n.name || ':' || d.\"index\") FROM devices d"
            " JOIN nodes n ON n.id = d.node_id WHERE d.allocation_id = a.id) FROM allocations a"
            " WHERE a.state = 'active' AND a.kind = 'server' AND a.user = ?", (user,)).fetchall()
    finally:
        con.close()
    return rows


def wait_for(what, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_server_is_a_slurm_job_with_the_granted_npus(cluster_hub):
    hub = cluster_hub
    hub.create_user("alice")
    hub.spawn("alice", options={"profile": "npu", "npus": 2}, timeout=120)
    job = scontrol_job(hub, "alice")
    assert job["JobState"] == "RUNNING" and job["Partition"] == "npu"
    node, idx = job["NodeList"], granted(job)
    assert node in ("n1", "n2", "n3") and len(idx) == 2
    assert job["Comment"].startswith("npuhub=127.0.0.1:")
    container = hub.container("alice")
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    assert env["ASCEND_VISIBLE_DEVICES"] == ",".join(map(str, idx))
    devices = {d["PathOnHost"] for d in container.attrs["HostConfig"]["Devices"]}
    root = cluster_dir(hub.slurm)
    assert {f"{root}/devices/{node}/davinci{i}" for i in idx} <= devices
    assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    # its log is capped as on one host (a chatty notebook cannot fill the node's disk)
    assert container.attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    # the ledger holds what Slurm granted
    (devices_json, held), = ledger_devices(hub, "alice")
    expect = sorted(f"{node}:{i}" for i in idx)
    assert sorted(held.split(",")) == expect
    assert sorted(f"{n}:{i}" for n, i in json.loads(devices_json)) == expect
    # the hub routes to it
    r = hub.request("GET", "/api/status", base=f"{hub.url}/user/alice",
                    token=hub.user_token("alice"))
    assert r.status_code == 200, r.text
    hub.stop_server("alice")
    wait_for("container gone", lambda: not docker.from_env().containers.list(
        all=True, filters={"name": f"{hub.prefix}-alice--"}), 30)
    assert ledger_devices(hub, "alice") == []


def test_three_full_nodes_then_a_fourth_waits_and_stop_cancels_it(cluster_hub):
    hub = cluster_hub
    users = ["bob", "carol", "dave"]
    for u in users + ["erin"]:
        hub.create_user(u)
    for u in users:
        r = hub.spawn(u, options={"profile": "npu", "npus": 4}, wait=False)
        assert r.status_code in (201, 202), r.text
    for u in users:
        hub.wait_ready(u, timeout=120)
    nodes = {scontrol_job(hub, u)["NodeList"] for u in users}
    assert nodes == {"n1", "n2", "n3"}

    r = hub.spawn("erin", options={"profile": "npu", "npus": 4}, wait=False)
    assert r.status_code == 202, r.text
    assert wait_for("erin pending", lambda: scontrol_job(hub, "erin")["JobState"] == "PENDING")
    # the spawn page's progress (its event stream's JSON) says where erin waits
    said = progress_until(hub, "erin", "position 1", "en")
    assert said.startswith("Waiting in the Slurm queue: position 1"), said
    job_id = scontrol_job(hub, "erin")["id"]
    hub.stop_server("erin")
    env = slurm_env(hub.slurm["slurm_conf"])
    state = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env,
                           capture_output=True, text=True).stdout
    assert "JobState=CANCELLED" in state
    for u in users:
        hub.stop_server(u)


def sleeping_job(hub, user: str, token: str, *, npus: int, name: str,
                 seconds: int) -> tuple[int, str]:
    """A batch job of `user` that sleeps `seconds` (its script written from `user`'s running
    server), once it runs on the cluster and holds its NPUs: (job id, Slurm job id)."""
    code = ("import os\nopen(os.path.expanduser('~/sleep.py'), 'w')"
            f".write('import time\\ntime.sleep({seconds})\\n')\nprint('ok')")
    assert run_code(hub, user, token, code).strip() == "ok"
    r = hub.request("POST", "/jobs", token=token, base=hub.service,
                    json={"source": "sleep.py", "npus": npus, "name": name})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    def running():
        j = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service).json()
        return j if j["state"] == "running" and held_by_job(hub, job_id) else None

    return job_id, wait_for(f"job {name} running", running, 300)["backend_id"]


def held_by_job(hub, job_id) -> list[str]:
    """node:index of the ledger devices a batch job holds."""
    con = sqlite3.connect(hub.state_dir / "npuhub.sqlite")
    try:
        rows = con.execute(
            "SELECT n.name || ':' || d.\"index\" FROM devices d JOIN nodes n ON n.id ="
            " d.node_id JOIN allocations a ON a.id = d.allocation_id WHERE a.kind = 'job'"
            " AND a.holder = ? AND a.state = 'active'", (str(job_id),)).fetchall()
    finally:
        con.close()
    return sorted(r for (r,) in rows)


def test_restart_keeps_running_cluster_servers_and_a_batch_job(cluster_hub):
    """Hub, proxy and service restarted (`npuhub up` again) while a server and a batch job
    run on the cluster: both are found again by their Slurm job ids and keep their NPUs;
    the batch job is not submitted again."""
    hub = cluster_hub
    hub.create_user("frank")
    token = hub.user_token("frank")
    hub.spawn("frank", options={"profile": "npu", "npus": 2}, timeout=300)
    job_id, slurm_id = sleeping_job(hub, "frank", token, npus=1, name="npuhubtest-restart",
                                    seconds=600)
    job_devices = held_by_job(hub, job_id)
    before = scontrol_job(hub, "frank")
    server_devices = ledger_devices(hub, "frank")
    hub.restart()
    model = hub.request("GET", "/users/frank").json()
    assert model["servers"][""]["ready"], model
    after = scontrol_job(hub, "frank")
    assert after["id"] == before["id"] and after["JobState"] == "RUNNING"
    r = hub.request("GET", "/api/status", base=f"{hub.url}/user/frank",
                    token=hub.user_token("frank"))
    assert r.status_code == 200, r.text
    assert ledger_devices(hub, "frank") == server_devices
    time.sleep(2)  # a few of the service's job polls (c.JobsConfig.poll_interval = 0.5)
    j = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service).json()
    assert j["state"] == "running" and j["backend_id"] == slurm_id, j
    assert held_by_job(hub, job_id) == job_devices
    env = slurm_env(hub.slurm["slurm_conf"])
    names = subprocess.run(["squeue", "-h", "-o", "%j"], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert sum(f"-{job_id}-" in n and "npuhubtest-restart" in n for n in names) == 1, names
    r = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    wait_for("job's devices free", lambda: held_by_job(hub, job_id) == [], 30)
    hub.stop_server("frank")


def test_a_job_that_fails_before_its_server_starts_is_reported(cluster_hub):
    hub = cluster_hub
    hub.create_user("dave")
    t0 = time.monotonic()
    r = hub.spawn("dave", options={"profile": "broken"}, wait=False)
    log = hub.log.read_text(errors="replace")
    # a failure within the hub's first seconds is the POST's own answer
    assert r.status_code in (202, 503), log[-3000:]

    def ended():
        s = hub.request("GET", "/users/dave").json()["servers"].get("")
        return s is None or not (s.get("pending") or s.get("ready"))

    wait_for("start failed", ended, 60)
    assert time.monotonic() - t0 < 60
    log = hub.log.read_text(errors="replace")
    assert "ended before the server answered" in log, log[-3000:]
    assert r.status_code == 202 or "ended before the server answered" in r.json()["message"]
    assert ledger_devices(hub, "dave") == []


def test_an_unanswering_controller_then_scancel_behind_the_platforms_back(cluster_hub):
    """slurmctld gone for longer than two polls: the server is not taken as stopped. Then
    `scancel` outside npuhub: within a poll the server is gone, its NPUs free, its
    container stopped by the job."""
    hub = cluster_hub
    hub.create_user("gina")
    hub.spawn("gina", options={"profile": "npu", "npus": 2}, timeout=120)
    job = scontrol_job(hub, "gina")
    run = cluster_dir(hub.slurm) / "run" / "slurmctld.pid"
    pid = int(run.read_text())
    subprocess.run(["kill", str(pid)], check=True)
    wait_for("slurmctld gone", lambda: not os.path.exists(f"/proc/{pid}"), 30)
    try:
        time.sleep(3 * 2)  # three of the hub's polls (c.NPUHub.poll_interval = 2)
        model = hub.request("GET", "/users/gina").json()
        assert model["servers"][""]["ready"], model
    finally:
        start_slurm()  # slurmctld again, with the jobs it saved
    time.sleep(2 * 2)  # polls that reach the controller again
    assert hub.request("GET", "/users/gina").json()["servers"][""]["ready"]
    assert len(ledger_devices(hub, "gina")) == 1

    env = slurm_env(hub.slurm["slurm_conf"])
    subprocess.run(["scancel", job["id"]], env=env, check=True)

    def gone():
        return "" not in hub.request("GET", "/users/gina").json().get("servers", {})

    wait_for("server gone after scancel", gone, 30)
    assert ledger_devices(hub, "gina") == []
    wait_for("container gone", lambda: not docker.from_env().containers.list(
        all=True, filters={"name": f"{hub.prefix}-gina--"}), 30)


def test_a_batch_job_holds_slurms_devices_in_the_same_ledger(cluster_hub):
    """A batch job on the same cluster: the ledger holds the node and chips Slurm granted
    it, beside the servers'. Its files are written through a cluster server's kernel."""
    hub = cluster_hub
    hub.create_user("hana")
    token = hub.user_token("hana")
    hub.spawn("hana", options={"profile": "npu", "npus": 0}, timeout=120)
    code = ("import os\nopen(os.path.expanduser('~/sleep.py'), 'w')"
            ".write('import time\\ntime.sleep(300)\\n')\nprint('ok')")
    assert run_code(hub, "hana", token, code).strip() == "ok"
    hub.stop_server("hana")
    r = hub.request("POST", "/jobs", token=token, base=hub.service,
                    json={"source": "sleep.py", "npus": 2, "name": "npuhubtest-hold"})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    def running():
        j = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service).json()
        return j if j["state"] == "running" else None

    slurm_id = wait_for("job running", running, 60)["backend_id"]
    env = slurm_env(hub.slurm["slurm_conf"])
    line = subprocess.run(["scontrol", "-o", "-d", "show", "job", slurm_id], env=env,
                          capture_output=True, text=True, check=True).stdout
    fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
    expect = sorted(f"{fields['NodeList']}:{i}" for i in granted(fields))

    def held():
        con = sqlite3.connect(hub.state_dir / "npuhub.sqlite")
        try:
            rows = con.execute(
                "SELECT n.name || ':' || d.\"index\" FROM devices d JOIN nodes n ON n.id ="
                " d.node_id JOIN allocations a ON a.id = d.allocation_id WHERE a.kind = 'job'"
                " AND a.holder = ? AND a.state = 'active'", (str(job_id),)).fetchall()
        finally:
            con.close()
        return sorted(r for (r,) in rows)

    assert wait_for("ledger holds the job's devices", lambda: held() == expect and held(), 10)
    r = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    wait_for("devices free", lambda: held() == [], 30)
